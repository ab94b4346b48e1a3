"""Repeated attempts: each a fresh conversation; the verdict, its interval and label from all of them."""

from __future__ import annotations

import json

import openai
import pytest

from aitest_bdd.testing.scripted_model import Script, ScriptedModelServer

# The model gets the rule right in 3 of 5 conversations that open with "weather in Paris" (seed 6).
FLAKY_SCRIPT = {
    "seed": 6,
    "rules": [
        {"user_regex": "weather in Paris", "chance": 0.6, "replies": [{"content": "Sunny in Paris, 21 degrees."}]},
        {"user_regex": "weather in Paris", "replies": [{"content": "I cannot tell."}]},
        {"user_regex": "thanks", "replies": [{"content": "You're welcome!"}]},
    ],
}

FLAKY = """
Feature: Weather
  Scenario: Paris
    Given the agent "plain"
    When the user says "What's the weather in Paris?"
    Then the response contains "Sunny"
"""


def _results(project) -> dict:
    return json.loads((project.pytester.path / "results.json").read_text())


def _draws(seed: int, attempts: int) -> int:
    """How many of `attempts` conversations the 0.6 rule answers with this seed: the scripted model's own draws."""
    script = Script.model_validate({**FLAKY_SCRIPT, "seed": seed})
    with ScriptedModelServer(script) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
        replies = [
            client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "What's the weather in Paris?"}]
            )
            .choices[0]
            .message.content
            for _ in range(attempts)
        ]
    return sum("Sunny" in reply for reply in replies)


def test_the_scripted_seed_gives_three_of_five() -> None:
    assert _draws(6, 5) == 3


@pytest.mark.script(FLAKY_SCRIPT)
def test_three_of_five_is_flaky_with_its_interval_and_fails_the_strict_default(project) -> None:
    project.feature("weather", FLAKY)
    result = project.run("--aitest-repeat", "5", "--aitest-record=live", "--aitest-json", "results.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*3/5 passed (60 %, 95 % CI 23–88 %), flaky; without a pass-rate gate (--aitest-min-pass-rate), every*"]
    )
    result.stdout.fnmatch_lines(['*where it breaks: line 5, Then the response contains "Sunny": failed in 2 of the 5*'])
    result.stdout.fnmatch_lines(["1 repeated scenario, 5 attempts: 1 flaky", "  weather.feature::test_paris: 3/5 *"])
    [test] = _results(project)["tests"]
    verdict = test["verdict"]
    assert (verdict["attempts"], verdict["passed"], verdict["label"], verdict["decision"]) == (5, 3, "flaky", "failed")
    assert verdict["low"] == pytest.approx(0.2307, abs=1e-4) and verdict["high"] == pytest.approx(0.8824, abs=1e-4)
    assert [attempt["status"] for attempt in test["attempts"]].count("passed") == 3
    assert [conversation["attempt"] for conversation in test["conversations"]] == [1, 2, 3, 4, 5]
    assert all(len(conversation["turns"]) == 1 for conversation in test["conversations"])  # fresh each time


@pytest.mark.script(FLAKY_SCRIPT)
@pytest.mark.parametrize(("gate", "outcome"), [("0.5", "passed"), ("80%", "failed")])
def test_a_gate_decides_from_the_pass_rate(project, gate: str, outcome: str) -> None:
    project.feature("weather", FLAKY)
    result = project.run("--aitest-repeat", "5", "--aitest-min-pass-rate", gate, "--aitest-record=live")
    result.assert_outcomes(**{outcome: 1})
    if outcome == "failed":
        result.stdout.fnmatch_lines(["*3/5 passed (60 %, 95 % CI 23–88 %), flaky; is below the gate of 80 %*"])


@pytest.mark.script(FLAKY_SCRIPT)
def test_tags_set_the_attempts_and_the_gate(project) -> None:
    project.feature(
        "weather",
        """
        @repeat(5)
        Feature: Weather
          @min-pass-rate(50%)
          Scenario: Paris
            Given the agent "plain"
            When the user says "What's the weather in Paris?"
            Then the response contains "Sunny"
        """,
    )
    conftest = project.pytester.path / "conftest.py"
    listing = "\n\ndef pytest_sessionfinish(session):\n    print('markers:', session.config.getini('markers'))\n"
    conftest.write_text(conftest.read_text() + listing)
    result = project.run("--aitest-record=live", "--strict-markers", "--aitest-json", "results.json")
    result.assert_outcomes(passed=1)
    assert _results(project)["tests"][0]["verdict"]["summary"].startswith("3/5 passed")
    assert ": Gherkin tag" not in result.stdout.str()  # the tags became aitest-bdd's marks, not markers of their own


@pytest.mark.script(FLAKY_SCRIPT)
def test_a_bad_repeat_tag_fails_only_its_scenario(project) -> None:
    project.feature(
        "weather",
        """
        Feature: Weather
          @repeat(many)
          Scenario: Paris
            Given the agent "plain"
            When the user says "What's the weather in Paris?"
            Then the response contains "Sunny"

          Scenario: Thanks
            Given the agent "plain"
            When the user says "thanks"
            Then the response contains "welcome"
        """,
    )
    result = project.run("--aitest-record=live")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*@repeat(many) is not a number of attempts: write a whole number such as 5*"])


@pytest.mark.script(FLAKY_SCRIPT)
def test_a_bad_repeat_option_is_a_usage_error(project) -> None:
    project.feature("weather", FLAKY)
    result = project.run("--aitest-min-pass-rate", "150%")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--aitest-min-pass-rate '150%' is not a pass rate: write a share such as 80%*"])


@pytest.mark.script(FLAKY_SCRIPT)
def test_each_attempt_has_its_own_recording_and_replays(project) -> None:
    project.feature("weather", FLAKY)
    recorded = project.run("--aitest-repeat", "5", "--aitest-min-pass-rate", "0.5", "--aitest-record=all")
    recorded.assert_outcomes(passed=1)
    files = sorted(path.name for path in (project.pytester.path / "recordings").rglob("*.json"))
    assert len(files) == 5, files
    project.server.stop()  # replay needs no model
    replayed = project.run(
        "--aitest-repeat", "5", "--aitest-min-pass-rate", "0.5", "--aitest-record=none", "--aitest-json", "results.json"
    )
    replayed.assert_outcomes(passed=1)
    assert _results(project)["tests"][0]["verdict"]["passed"] == 3


def _certain(chance: float) -> dict:
    return {
        "seed": 11,
        "rules": [
            {"user_regex": "weather in Paris", "chance": chance, "replies": [{"content": "Sunny in Paris."}]},
            {"user_regex": "weather in Paris", "replies": [{"content": "I cannot tell."}]},
        ],
    }


@pytest.mark.parametrize(
    ("chance", "outcome"),
    [
        pytest.param(0.95, "passed", marks=pytest.mark.script(_certain(0.95))),
        pytest.param(0.05, "failed", marks=pytest.mark.script(_certain(0.05))),
    ],
)
def test_early_stop_decides_a_clear_scenario_before_the_limit(project, chance: float, outcome: str) -> None:
    project.feature("weather", FLAKY)
    result = project.run(
        "--aitest-repeat",
        "up-to 20",
        "--aitest-min-pass-rate",
        "0.5",
        "--aitest-record=live",
        "--aitest-json",
        "results.json",
    )
    result.assert_outcomes(**{outcome: 1})
    verdict = _results(project)["tests"][0]["verdict"]
    assert verdict["early_stop"] and verdict["attempts"] < 20
    assert f"{outcome} against the gate of 50 % after {verdict['attempts']} of up to 20 attempts" in verdict["summary"]
    assert len(project.server.requests) == verdict["attempts"]
    saved = 20 - verdict["attempts"]
    result.stdout.fnmatch_lines([f"1 repeated scenario, {verdict['attempts']} attempts ({saved} attempts saved by*"])


TWO_CITIES_SCRIPT = {
    "seed": 5,
    "rules": [
        {"user_regex": "weather in (Paris|Rome)", "chance": 0.6, "replies": [{"content": "Sunny, 21 degrees."}]},
        {"user_regex": "weather in", "replies": [{"content": "I cannot tell."}]},
    ],
}


@pytest.mark.script(TWO_CITIES_SCRIPT)
def test_parallel_attempts_give_the_verdicts_of_a_serial_run(project, outside_xdist) -> None:
    project.feature(
        "weather",
        """
        Feature: Weather
          Scenario Outline: A city
            Given the agent "plain"
            When the user says "What's the weather in <city>?"
            Then the response contains "Sunny"

            Examples:
              | city  |
              | Paris |
              | Rome  |
        """,
    )

    def verdicts(*args: str) -> dict[str, tuple]:
        project.run("--aitest-repeat", "6", "--aitest-record=live", "--aitest-json", "results.json", *args)
        return {
            test["nodeid"]: (test["verdict"]["passed"], test["verdict"]["label"], test["status"])
            for test in _results(project)["tests"]
        }

    serial = verdicts()
    # A model server as new as the first run's: the scripted draws start again from the seed.
    port = project.server.port
    project.server.stop()
    with ScriptedModelServer(Script.model_validate(TWO_CITIES_SCRIPT), port=port):
        parallel = verdicts("-n", "2")
    assert serial == parallel
    assert len(serial) == 2


SPEND_SCRIPT = {"rules": [{"user_regex": "weather in", "replies": [{"content": "Sunny, 21 degrees."}]}]}
TWO_SCENARIOS = """
Feature: Weather
  Scenario: Paris
    Given the agent "plain"
    When the user says "What's the weather in Paris?"
    Then the response contains "Sunny"

  Scenario: Rome
    Given the agent "plain"
    When the user says "What's the weather in Rome?"
    Then the response contains "Sunny"
"""


def _priced(project) -> None:
    """Every token of the scripted model costs a dollar, so each attempt costs its token count."""
    (project.pytester.path / "prices.json").write_text(json.dumps({"scripted-default": {"input": 1e6, "output": 1e6}}))
    project.pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\naitest_pricing = prices.json\n")


@pytest.mark.script(SPEND_SCRIPT)
def test_the_spending_limit_stops_new_attempts_and_passes_nothing_on_fewer(project) -> None:
    _priced(project)
    project.feature("weather", TWO_SCENARIOS)
    probe = project.run("--aitest-record=live", "--aitest-json", "results.json")
    probe.assert_outcomes(passed=2)
    per_attempt = sum(
        turn["cost_usd"]
        for conversation in _results(project)["tests"][0]["conversations"]
        for turn in conversation["turns"]
    )
    limit = 2.5 * per_attempt  # the third attempt of the first scenario would pass it
    result = project.run(
        "--aitest-repeat",
        "5",
        "--aitest-max-cost",
        f"{limit}",
        "--aitest-record=live",
        "--aitest-json",
        "results.json",
        "-rs",
    )
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["SKIPPED [[]1[]] weather.feature:2: not run in full: 3 of 5 attempts ran*"])
    result.stdout.fnmatch_lines(["repeats: 2 scenarios, up to 10 attempts, 10 of them live; 10 live attempts cannot *"])
    tests = {test["name"]: test for test in _results(project)["tests"]}
    assert tests["Paris"]["status"] == "skipped" and len(tests["Paris"]["attempts"]) == 3
    assert tests["Paris"]["message"].startswith("not run in full: 3 of 5 attempts ran; the run has spent $")
    assert tests["Rome"]["status"] == "skipped" and tests["Rome"]["attempts"] == []
    assert tests["Rome"]["message"].startswith("not run: no attempt ran; the run has spent $")
    assert len(project.server.requests) == 2 + 3


@pytest.mark.script(SPEND_SCRIPT)
def test_the_spending_limit_holds_across_xdist_workers(project, outside_xdist) -> None:
    _priced(project)
    project.feature("weather", TWO_SCENARIOS)
    project.run("--aitest-record=live", "--aitest-json", "results.json").assert_outcomes(passed=2)
    costs = [
        sum(turn["cost_usd"] for conversation in test["conversations"] for turn in conversation["turns"])
        for test in _results(project)["tests"]
    ]
    before = len(project.server.requests)
    # Three and a half attempts' worth: a worker alone would run four attempts, the two of them eight. Each
    # worker runs both scenarios (`--dist each`), so both are busy from the start.
    limit = 3.5 * max(costs)
    options = ("-n", "2", "--dist", "each", "--aitest-repeat", "10", "--aitest-max-cost", f"{limit}")
    result = project.run(*options, "--aitest-record=live")
    result.assert_outcomes(skipped=4)
    # Each worker stops once the shared ledger shows the limit spent: at most one attempt each after that.
    assert 4 <= len(project.server.requests) - before <= 5


@pytest.mark.script(SPEND_SCRIPT)
def test_the_run_says_what_repeats_may_cost_before_the_first_attempt(project) -> None:
    _priced(project)
    project.feature("weather", TWO_SCENARIOS)
    project.run("--aitest-record=all", "--aitest-repeat", "2").assert_outcomes(passed=2)
    result = project.run("--aitest-record=all", "--aitest-repeat", "3", "--aitest-max-cost", "1000")
    result.stdout.fnmatch_lines(
        [
            "collected 2 items",
            "repeats: 2 scenarios, up to 6 attempts, 6 of them live; estimated cost $* for 6 live attempts, from"
            " recordings; no attempt starts once the run has spent $1,000.00",
        ]
    )
    more = project.run("--aitest-repeat", "4")  # the fourth attempts have no recording: estimated from the first's
    more.stdout.fnmatch_lines(["repeats: 2 scenarios, up to 8 attempts, 2 of them live; estimated cost $* for 2 live*"])


@pytest.mark.script(SPEND_SCRIPT)
def test_a_run_compares_itself_with_its_baseline_and_survives_a_missing_one(project) -> None:
    project.feature("weather", TWO_SCENARIOS)
    project.run("--aitest-record=live", "--aitest-json", "base.json").assert_outcomes(passed=2)
    outputs = ("--aitest-report", "report.html", "--aitest-md", "summary.md")
    compared = project.run("--aitest-record=live", "--aitest-baseline", "base.json", *outputs)
    compared.assert_outcomes(passed=2)
    summary = (project.pytester.path / "summary.md").read_text()
    assert "Changes from the baseline" in summary and "no change" in summary.lower()
    missing = project.run("--aitest-record=live", "--aitest-baseline", "missing.json", *outputs)
    missing.assert_outcomes(passed=2)
    notes = [line for line in missing.stdout.lines if line.startswith("aitest baseline: missing.json not used: cannot")]
    assert len(notes) == 1
    unshown = project.run("--aitest-record=live", "--aitest-baseline", "base.json")
    unshown.stdout.fnmatch_lines(["aitest baseline: base.json is compared in --aitest-report and --aitest-md, and *"])
    for output in ("report.html", "summary.md"):
        assert "was not used: cannot be read: No such file or directory" in (project.pytester.path / output).read_text()


@pytest.mark.script(FLAKY_SCRIPT)
def test_an_early_stop_limit_too_small_to_show_a_pass_is_refused(project) -> None:
    project.feature("weather", FLAKY)
    result = project.run("--aitest-repeat", "up-to 10", "--aitest-min-pass-rate", "80%")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*repeat up-to 10 cannot show a pass rate of 80 %: early stop needs 12 attempts that all pass*up-to 12*"]
    )


@pytest.mark.script(FLAKY_SCRIPT)
@pytest.mark.parametrize("hash_seed", ["0", "1", "2", "3"])
def test_the_scenarios_tag_wins_over_the_features(project, monkeypatch, hash_seed: str) -> None:
    monkeypatch.setenv("PYTHONHASHSEED", hash_seed)
    project.feature(
        "weather",
        """
        @repeat(2) @min-pass-rate(10%)
        Feature: Weather
          @repeat(4) @min-pass-rate(50%)
          Scenario: Paris
            Given the agent "plain"
            When the user says "What's the weather in Paris?"
            Then the response contains "Sunny"
        """,
    )
    project.pytester.runpytest_subprocess("-p", "no:cacheprovider", "--aitest-record=live", "--aitest-json", "r.json")
    verdict = json.loads((project.pytester.path / "r.json").read_text())["tests"][0]["verdict"]
    assert (verdict["attempts"], verdict["gate"]) == (4, 0.5)


@pytest.mark.script(FLAKY_SCRIPT)
def test_an_undefined_step_fails_each_attempt_before_any_model_call(project) -> None:
    project.feature(
        "weather",
        """
        Feature: Weather
          Scenario: Paris
            Given the agent "plain"
            When the user says "What's the weather in Paris?"
            Then the forecast is printed on paper
        """,
    )
    result = project.run("--aitest-repeat", "3", "--aitest-record=live")
    result.assert_outcomes(failed=1)
    assert project.server.requests == []


STEPS_THAT_END_THE_SCENARIO = """
import pytest
from pytest_bdd import then


@then("the run ends")
def run_ends():
    pytest.exit("stopped by a step")


@then("the scenario is expected to fail")
def expected_failure():
    pytest.xfail("known problem")


@then("the scenario is skipped")
def skipped():
    pytest.skip("not today")
"""


@pytest.mark.script(FLAKY_SCRIPT)
@pytest.mark.parametrize(
    ("step", "outcome"),
    [
        ("the run ends", {}),
        ("the scenario is expected to fail", {"xfailed": 1}),
        ("the scenario is skipped", {"skipped": 1}),
    ],
)
def test_exit_xfail_and_skip_in_a_step_are_not_failed_attempts(project, step: str, outcome: dict) -> None:
    conftest = project.pytester.path / "conftest.py"
    conftest.write_text(conftest.read_text() + STEPS_THAT_END_THE_SCENARIO)
    project.feature(
        "weather",
        f"""
        Feature: Weather
          Scenario: Paris
            Given the agent "plain"
            When the user says "What's the weather in Paris?"
            Then {step}
        """,
    )
    result = project.run("--aitest-repeat", "3", "--aitest-record=live", "--aitest-json", "results.json")
    result.assert_outcomes(**outcome)
    assert len(project.server.requests) == 1  # the first attempt ended the scenario (or the run)
    if step == "the run ends":
        result.stdout.fnmatch_lines(["*Exit: stopped by a step*"])
    else:
        [test] = _results(project)["tests"]
        assert [attempt["number"] for attempt in test["attempts"]] == [1]


def test_a_gate_reached_exactly_passes_despite_floating_point() -> None:
    from aitest_bdd.results.schema import Attempt
    from aitest_bdd.results.verdicts import verdict_of

    attempts = [Attempt(number=n, status="passed" if n <= 14 else "failed") for n in range(1, 26)]
    assert verdict_of(attempts, 25, 0.56).decision == "passed"  # 0.56 × 25 is 14.000000000000002 in floats


@pytest.mark.script(FLAKY_SCRIPT)
def test_an_empty_spending_limit_is_a_usage_error(project) -> None:
    project.feature("weather", FLAKY)
    result = project.run("--aitest-max-cost=")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--aitest-max-cost '' is not an amount in US dollars*"])
