"""Tool results that are not only text: an image reaches the model as an image part after the tool messages, an
embedded resource's text and a link's URI as text; the report shows them; a recording replays them; and so on
with server-everything over stdio and streamable HTTP."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from everything_server import everything  # noqa: F401 (the fixture that starts server-everything)
from playwright.sync_api import Browser
from test_report_html import browser, open_report  # noqa: F401 (the module-scoped browser fixture)
from test_server_everything import everything_project  # noqa: F401 (the project on server-everything)

from aitest_bdd.testing.servers.weather import icon_png, sky_of
from aitest_bdd.tools.answers import ContentBlock, ToolAnswer

PARIS_ICON = base64.b64encode(icon_png(sky_of("partly cloudy"))).decode("ascii")

SCRIPT: dict[str, Any] = {
    "rules": [
        {
            "user": "Show me the weather icon of Paris",
            "replies": [
                {"tool_calls": [{"name": "get_weather_icon", "arguments": {"city": "Paris"}}]},
                {"content": "I was sent {images} image(s)."},
            ],
        },
        {"user": "Thanks", "turn": 2, "replies": [{"content": "You're welcome (turn 2)."}]},
        {
            "user": "Read me the Paris weather report",
            "replies": [
                {"tool_calls": [{"name": "get_weather_report", "arguments": {"city": "Paris"}}]},
                {"content": "{result:get_weather_report}"},
            ],
        },
    ]
}

FEATURE = """
Feature: Content
  Scenario: An image
    Given the agent "weather"
    When the user says "Show me the weather icon of Paris"
    Then the tool result of "get_weather_icon" contains an image of type "image/png"
    And the tool result of "get_weather_icon" contains "[image: image/png"
    And the response contains "I was sent 1 image(s)"
    When the user says "Thanks"
    Then the response contains "You're welcome (turn 2)"
    And the tool result of "get_weather_icon" contains an image in turn 1

  Scenario: A resource and a link
    Given the agent "weather"
    When the user says "Read me the Paris weather report"
    Then the tool result of "get_weather_report" contains "18°C and partly cloudy, humidity 65%"
    And the tool result of "get_weather_report" contains "weather://forecasts/paris"
    And the response contains "[resource weather://reports/paris (text/plain)]"

  Scenario: No image where there is none
    Given the agent "weather"
    When the user says "Read me the Paris weather report"
    Then the tool result of "get_weather_report" contains an image
"""
OUTPUTS = ("--aitest-json", "results.json", "--aitest-report", "report.html")


def results(project: Any) -> dict[str, dict]:
    data = json.loads((project.pytester.path / "results.json").read_text())
    return {test["name"]: test for test in data["tests"]}


def image_messages(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The user messages of a model request that carry image parts."""
    return [
        message for message in request["messages"] if message["role"] == "user" and isinstance(message["content"], list)
    ]


@pytest.mark.script(SCRIPT)
def test_an_image_reaches_the_model_as_an_image_part_after_the_tool_messages(project: Any) -> None:
    project.feature("content", FEATURE)
    project.run(*OUTPUTS).assert_outcomes(passed=2, failed=1)
    tests = results(project)
    assert tests["An image"]["status"] == "passed", tests["An image"]["message"]

    after_call = next(r for r in project.server.requests if r["messages"][-1]["role"] == "user" and image_messages(r))
    roles = [message["role"] for message in after_call["messages"]]
    assert roles[-3:] == ["assistant", "tool", "user"]  # the tool message follows its assistant message directly
    tool_message = after_call["messages"][-2]
    assert tool_message["content"].startswith("The weather icon for Paris (partly cloudy):\n[image: image/png, ")
    parts = after_call["messages"][-1]["content"]
    assert parts[0]["type"] == "text" and "'get_weather_icon'" in parts[0]["text"]
    assert parts[1] == {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PARIS_ICON}"}}

    thanks = next(r for r in project.server.requests if r["messages"][-1]["content"] == "Thanks")
    assert [m["role"] for m in thanks["messages"]] == ["user", "assistant", "tool", "user", "assistant", "user"]

    call = tests["An image"]["conversations"][0]["turns"][0]["tool_calls"][0]
    assert [block["type"] for block in call["content"]] == ["text", "image"]
    assert call["content"][1]["data"] == PARIS_ICON
    assert call["content"][1]["size"] == len(base64.b64decode(PARIS_ICON))


@pytest.mark.script(SCRIPT)
def test_an_embedded_resource_and_a_link_reach_the_model_as_text(project: Any) -> None:
    project.feature("content", FEATURE)
    project.run(*OUTPUTS).assert_outcomes(passed=2, failed=1)
    tests = results(project)
    assert tests["A resource and a link"]["status"] == "passed", tests["A resource and a link"]["message"]
    report = next(r for r in project.server.requests if r["messages"][-1]["role"] == "tool")
    assert report["messages"][-1]["content"] == (
        "The weather report for Paris:\n"
        "[resource weather://reports/paris (text/plain)]\n"
        "Weather report for Paris: 18°C and partly cloudy, humidity 65%, wind 12 km/h.\n"
        "[resource link 'Paris forecast': weather://forecasts/paris (application/json): The 5-day forecast for Paris]"
    )
    assert not image_messages(report)

    failed = tests["No image where there is none"]
    assert failed["status"] == "failed"
    assert (
        'expected the result of "get_weather_report" in turn 1 to contain an image, but it has no image'
        in (failed["message"])
    )


@pytest.mark.script(SCRIPT)
def test_the_report_shows_the_image_as_a_thumbnail_and_the_resource_text(
    project: Any,
    browser: Browser,  # noqa: F811
) -> None:
    project.feature("content", FEATURE)
    project.run(*OUTPUTS)
    page = open_report(browser, project.pytester.path / "report.html")
    try:
        for name in ("An image", "A resource and a link"):
            page.get_by_text(name, exact=True).first.click()
        page.locator(".tool-head", has_text="get_weather_icon").first.click()
        image = page.locator("img.thumbnail").first
        assert image.get_attribute("src", timeout=5000) == f"data:image/png;base64,{PARIS_ICON}"
        assert image.evaluate("node => node.complete && node.naturalWidth") == 32  # the CSP let it load
        page.locator(".tool-head", has_text="get_weather_report").first.click()
        blocks = page.locator(".content-block").all_text_contents()
        assert "Resource weather://reports/paris (text/plain)Weather report for Paris: 18°C" in " ".join(blocks)
        assert any('Link "Paris forecast" to weather://forecasts/paris' in block for block in blocks)
    finally:
        page.context.close()


@pytest.mark.script(SCRIPT)
def test_a_recording_replays_the_image_and_keeps_its_data_once(project: Any) -> None:
    project.feature("content", FEATURE.split("  Scenario: A resource")[0])
    project.run("--aitest-record=once", *OUTPUTS).assert_outcomes(passed=1)
    recorded = results(project)["An image"]
    recording = (project.pytester.path / "recordings" / "content" / "test_an_image.json").read_text()
    assert recording.count(PARIS_ICON) == 1  # in the tool's answer; the model requests name it by its hash
    assert "data:image/png;base64,sha256:" in recording

    project.server.stop()
    asked = len(project.server.requests)
    project.run("--aitest-record=none", *OUTPUTS).assert_outcomes(passed=1)
    replayed = results(project)["An image"]
    assert len(project.server.requests) == asked
    for was, now in zip(recorded["conversations"][0]["turns"], replayed["conversations"][0]["turns"], strict=True):
        assert now["source"] == "replayed"
        assert now["tool_calls"] == was["tool_calls"]
        assert now["final_response"] == was["final_response"]


def test_an_image_larger_than_max_tool_result_chars_is_left_out_with_a_note() -> None:
    image = ContentBlock(type="image", mime_type="image/png", data=PARIS_ICON, size=120)
    answer = ToolAnswer(text="[image: image/png, 120 bytes]", content=[image])
    assert answer.truncated(len(PARIS_ICON)) is answer
    kept = answer.truncated(len(PARIS_ICON) - 1)
    assert kept.content[0].data is None and kept.content[0].size == 120
    assert kept.text.endswith(f"\n[image left out: image/png, 120 bytes, {len(PARIS_ICON):,} characters of base64]")


EVERYTHING_SCRIPT: dict[str, Any] = {
    "rules": [
        {
            "user": "tiny image, resource and links",
            "replies": [
                {
                    "tool_calls": [
                        {"name": "get-tiny-image"},
                        {"name": "get-resource-reference", "arguments": {"resourceType": "Text", "resourceId": 1}},
                        {"name": "get-resource-links", "arguments": {"count": 1}},
                    ]
                },
                {"content": "{images} image(s)"},
            ],
        },
        {"user": "hello", "replies": [{"content": "hello"}]},
    ]
}
EVERYTHING_FEATURE = """
Feature: server-everything content
  Scenario: everything's content
    Given the agent "everything"
    When the user says "tiny image, resource and links"
    Then the tool result of "get-tiny-image" contains an image of type "image/png"
    And the tool result of "get-resource-reference" contains "Resource 1: This is a plaintext resource"
    And the tool result of "get-resource-links" contains "demo://resource/dynamic/"
    And the response contains "1 image(s)"
"""


@pytest.mark.parametrize("transport", ["stdio", "streamable-http"])
@pytest.mark.script(EVERYTHING_SCRIPT)
def test_server_everything_content_reaches_the_model(
    everything_project: Any,  # noqa: F811
    transport: str,
) -> None:
    everything_project.feature("everything", EVERYTHING_FEATURE)
    everything_project.run(*OUTPUTS).assert_outcomes(passed=1)
    request = everything_project.server.requests[-1]
    tool_messages = [message for message in request["messages"] if message["role"] == "tool"]
    assert "[resource demo://resource/dynamic/text/1 (text/plain)]\nResource 1: " in tool_messages[1]["content"]
    link = "[resource link 'Blob Resource 1': demo://resource/dynamic/blob/1 (text/plain)"
    assert link in tool_messages[2]["content"]
    [images] = image_messages(request)
    url = images["content"][1]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,iVBORw0KGgo")
    assert "[image content]" not in json.dumps(request)
    html = (everything_project.pytester.path / "report.html").read_text(encoding="utf-8")
    assert url.removeprefix("data:image/png;base64,") in html
