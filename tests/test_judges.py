"""Judges with rubrics, scores, the whole conversation, evidence and samples, on the scripted model playing the agent
and the judge, with a real MCP server."""

from __future__ import annotations

import json

import pytest


def verdict(passed: bool, reasoning: str) -> dict:
    return {"content": json.dumps({"pass": passed, "reasoning": reasoning})}


def judge_rule(criterion: str, *replies: dict, rotates: int = 0) -> dict:
    return {"user_regex": f"CRITERION:\\s+{criterion}", "rotates": bool(rotates), "replies": list(replies)}


SCRIPT = {
    "rules": [
        judge_rule("names the balance", verdict(True, "It names $1,500.00.")),
        judge_rule("offers a loan", verdict(False, "No loan is offered.")),
        judge_rule("is short", verdict(True, "One sentence.")),
        judge_rule("is polite", verdict(False, "It is curt.")),
        judge_rule("stays on topic", verdict(True, "Every reply is about the account.")),
        judge_rule("politeness", {"content": '{"score": 3, "reasoning": "Neutral tone."}'}),
        judge_rule("clarity", {"content": '{"score": "high", "reasoning": "Clear."}'}),
        judge_rule("consistent", verdict(True, "Yes A."), verdict(False, "No B."), verdict(True, "Yes C."), rotates=1),
        judge_rule("cautious", verdict(False, "No A."), verdict(True, "Yes B."), verdict(False, "No C."), rotates=1),
        {"user": "hello", "replies": [{"content": "Hello! How can I help?"}]},
        {
            "user": "balance please",
            "replies": [
                {"tool_calls": [{"name": "get_balance", "arguments": {"account": "checking"}}]},
                {"content": "Your checking balance is ${result:get_balance.formatted}."},
            ],
        },
    ]
}

BALANCE = """
Feature: Judges
  Scenario: {name}
    Given the agent "banking"
    When the user says "balance please"
    Then {then}
"""


def run(project, then: str, *args: str, name: str = "judged") -> dict:
    project.feature("judges", BALANCE.format(name=name, then=then))
    project.run("--aitest-json", "results.json", *args)
    data = json.loads((project.pytester.path / "results.json").read_text())
    return data["tests"][0]


def judge_requests(project) -> list[str]:
    """The user message of each judge request the scripted model received."""
    return [body["messages"][-1]["content"] for body in project.server.requests if body["model"] == "judge"]


@pytest.mark.script(SCRIPT)
def test_a_rubric_with_one_failed_must_fails_with_that_criterions_reasoning(project) -> None:
    test = run(
        project,
        "the response satisfies:\n"
        "      | criterion         | weight |\n"
        "      | names the balance | must   |\n"
        "      | offers a loan     | must   |\n"
        "      | is short          |        |",
    )
    assert test["status"] == "failed"
    assert "its score is 1.00 (at least 1.00 needed) and 1 \"must\" criterion failed" in test["message"]
    assert '"offers a loan" (must): the judge (aitest-scripted:judge) said no: No loan is offered.' in test["message"]
    assert "names the balance" not in test["message"].split("\n\n")[0]
    judged = test["conversations"][0]["turns"][0]["judgements"]
    assert [(j["criterion"], j["must"], j["weight"], j["passed"]) for j in judged] == [
        ("names the balance", True, None, True),
        ("offers a loan", True, None, False),
        ("is short", False, 1.0, True),
    ]
    assert len(judge_requests(project)) == 3


@pytest.mark.script(SCRIPT)
def test_weights_and_the_threshold_decide_a_rubric(project) -> None:
    table = "\n      | names the balance | 3 |\n      | is polite | 1 |"
    passing = run(project, f"the response satisfies, with a score of at least 0.75:{table}")
    assert passing["status"] == "passed", passing["message"]
    failing = run(project, f"the response satisfies, with a score of at least 0.8:{table}")
    assert failing["status"] == "failed"
    assert "its score is 0.75 (at least 0.80 needed); the criteria that failed:" in failing["message"]
    assert '"is polite" (weight 1): the judge (aitest-scripted:judge) said no: It is curt.' in failing["message"]
    strict = run(project, f"the response satisfies:{table}")
    assert "its score is 0.75 (at least 1.00 needed)" in strict["message"]


@pytest.mark.script(SCRIPT)
def test_a_score_passes_at_the_minimum_and_fails_below_it(project) -> None:
    passing = run(project, 'the response scores at least 3 of 5 on "politeness"')
    assert passing["status"] == "passed", passing["message"]
    scored = passing["conversations"][0]["turns"][0]["judgements"][0]
    assert (scored["score"], scored["scale"], scored["minimum"], scored["reasoning"]) == (3, 5, 3, "Neutral tone.")
    assert "from 1 (not at all) to 5 (fully)" in project.server.requests[-1]["messages"][0]["content"]
    failing = run(project, 'the response scores at least 4 of 5 on "politeness"')
    assert failing["message"].startswith(
        'expected the response to score at least 4 of 5 on "politeness", but the judge (aitest-scripted:judge) '
        "said 3 of 5: Neutral tone."
    )


@pytest.mark.script(SCRIPT)
def test_a_score_that_is_not_an_integer_on_the_scale_fails_clearly(project) -> None:
    test = run(project, 'the response scores at least 3 of 5 on "clarity"')
    assert test["status"] == "failed"
    assert test["message"].startswith(
        "the judge model 'judge' did not answer with an integer score from 1 to 5 in JSON like "
        '{"score": 5, "reasoning": "..."}; it answered: \'{"score": "high"'
    )


@pytest.mark.script(SCRIPT)
def test_the_conversation_judge_sees_every_turn(project) -> None:
    project.feature(
        "judges",
        """
        Feature: Judges
          Scenario: whole
            Given the agent "banking"
            When the user says "hello"
            And the user says "balance please"
            Then the conversation satisfies "stays on topic"
        """,
    )
    project.run("--aitest-json", "results.json").assert_outcomes(passed=1)
    [asked] = [body["messages"] for body in project.server.requests if body["model"] == "judge"]
    assert "AS A WHOLE, every turn of it" in asked[0]["content"]
    assert "user: hello" in asked[1]["content"] and "assistant: Hello! How can I help?" in asked[1]["content"]
    assert "user: balance please" in asked[1]["content"]
    data = json.loads((project.pytester.path / "results.json").read_text())
    assert data["tests"][0]["conversations"][0]["turns"][1]["judgements"][0]["subject"] == "conversation"


@pytest.mark.script(SCRIPT)
def test_the_judge_sees_the_tool_calls_and_results_unless_turned_off(project) -> None:
    run(project, 'the response satisfies "names the balance"')
    [shown] = judge_requests(project)
    assert "tool call: get_balance" in shown and '"formatted": "1,500.00"' in shown
    run(project, 'the response satisfies "names the balance"', "-o", "aitest_judge_evidence=false")
    hidden = judge_requests(project)[-1]
    assert "get_balance" not in hidden and "assistant: Your checking balance is $1,500.00." in hidden


def break_servers(project) -> None:
    """Point every MCP server at a program that does not exist: replay must not start them."""
    conftest = project.pytester.path / "conftest.py"
    conftest.write_text(
        conftest.read_text().replace(
            'command=[sys.executable, "-m", f"aitest_bdd.testing.servers.{name}"]',
            'command=["no-such-program-for-replay"]',
        )
    )


SAMPLED = """
Feature: Sampled
  Scenario: consistent
    Given the agent "banking"
    When the user says "balance please"
    Then the response satisfies "consistent"

  Scenario: cautious
    Given the agent "banking"
    When the user says "balance please"
    Then the response satisfies "cautious"
"""


def votes_of(project) -> dict[str, tuple[str, list]]:
    data = json.loads((project.pytester.path / "results.json").read_text())
    return {
        test["name"]: (
            test["message"],
            [{**vote, "duration_ms": None} for vote in test["conversations"][0]["turns"][0]["judgements"][0]["votes"]],
        )
        for test in data["tests"]
    }


@pytest.mark.script(SCRIPT)
def test_judge_samples_take_the_majority_keep_every_vote_and_replay(project) -> None:
    project.feature("sampled", SAMPLED)
    result = project.run("--aitest-judge-samples", "3", "--aitest-record=once", "--aitest-json", "results.json")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*2 agent tests, 2 turns*, * tokens (agent *, judge * in 6 calls)"])
    recorded = votes_of(project)
    assert [(vote["passed"], vote["reasoning"]) for vote in recorded["consistent"][1]] == [
        (True, "Yes A."),
        (False, "No B."),
        (True, "Yes C."),
    ]
    assert "said no: No A. [split vote: 2 of 3 votes said no]" in recorded["cautious"][0]
    recording = json.loads((project.pytester.path / "recordings/sampled/test_cautious.json").read_text())
    judged = [i["request"] for i in recording["sessions"]["banking"]["interactions"] if i["kind"] == "judge"]
    assert [request["sample"] for request in judged] == [1, 2, 3]

    project.server.stop()
    break_servers(project)
    requests_before = len(project.server.requests)
    result = project.run("--aitest-judge-samples", "3", "--aitest-record=none", "--aitest-json", "results.json")
    result.assert_outcomes(passed=1, failed=1)
    assert votes_of(project) == recorded
    assert len(project.server.requests) == requests_before


@pytest.mark.script(SCRIPT)
def test_a_judge_sample_count_that_is_not_a_number_fails_clearly(project) -> None:
    test = run(project, 'the response satisfies "names the balance"', "-o", "aitest_judge_samples=three")
    assert test["message"].startswith(
        "aitest_judge_samples = three is not a number of judge answers: write a whole number such as 3"
    )
