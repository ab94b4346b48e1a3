"""The Markdown summary for CI job summaries."""

from __future__ import annotations

from datetime import UTC, datetime

from aitest_bdd.conversation.turns import Conversation, Judgement, ModelCall, Turn, Usage
from aitest_bdd.report.markdown import cell, render_markdown
from aitest_bdd.results.schema import RunResults, StepResult, TestResult


def outline_row(model: str, status: str, message: str | None = None) -> TestResult:
    turn = Turn(number=1, user_message="Savings?", model=model, usage=Usage(total_tokens=120), cost_usd=0.5)
    return TestResult(
        nodeid=f"features/bank.feature::test_savings[{model}]",
        kind="scenario",
        name="Savings | balance",
        feature="Banking",
        file="features/bank.feature",
        line=7,
        example={"model": model},
        status=status,
        message=message,
        steps=[
            StepResult(keyword="Given", text='the agent "banking"', line=8, status="passed"),
            StepResult(keyword="Then", text='the response contains "3,200"', line=9, status=status, message=message),
        ],
        conversations=[Conversation(agent="banking", model=model, turns=[turn])],
    )


def test_failed_tests_with_step_and_one_line_message() -> None:
    message = "expected <b>3,200</b> | got: " + "x" * 400 + "\nTurn 1\n  user: Savings?"
    text = render_markdown(
        RunResults(tests=[outline_row("gpt-4.1", "passed"), outline_row("small", "failed", message)])
    )
    assert text.startswith("## ❌ aitest-bdd: 1 failed, 1 passed of 2 tests\n")
    assert "| 2 | 1 | 1 | 0 | 2 | 0 | 240 | $1.0000 | 0 ms |" in text
    failed = next(line for line in text.splitlines() if line.startswith("| Banking › "))
    assert failed.startswith("| Banking › Savings \\| balance \\[model=small\\] (features/bank.feature:7) |")
    assert '| Then the response contains "3,200" | expected &lt;b&gt;3,200&lt;/b&gt; \\| got: xxx' in failed
    assert failed.endswith("x… |") and len(failed) < 400 and "Turn 1" not in text
    assert "| Savings \\| balance | ✅ | ❌ |" in text
    assert "| gpt-4.1 | 1 | 1 | 0 | 100% | 120 | $0.5000 |" in text


def test_all_passed_has_no_failure_table() -> None:
    text = render_markdown(RunResults(tests=[outline_row("gpt-4.1", "passed")]))
    assert text.startswith("## ✅ aitest-bdd: 0 failed, 1 passed of 1 tests")
    assert "Failed tests" not in text and "### Models" not in text


def test_cell_is_one_safe_line() -> None:
    assert cell("a|b\n<script>*x*</script>", 60) == "a\\|b &lt;script&gt;\\*x\\*&lt;/script&gt;"
    assert cell("word " * 10, 12) == "word word w…"


def test_answers_line_and_judge_apart_from_the_agent() -> None:
    replayed = outline_row("gpt-4.1", "passed")
    conversation = replayed.conversations[0]
    conversation.recorded_at, conversation.recorded_models = datetime(2026, 11, 30, tzinfo=UTC), ["gpt-4.1"]
    conversation.turns[0].source = "replayed"
    conversation.turns[0].judgements = [
        Judgement(
            criterion="polite", passed=True, reasoning="yes", model="judge", usage=Usage(total_tokens=30), cost_usd=0.25
        )
    ]
    demo = outline_row("small", "passed")
    demo.conversations[0].turns[0].model_calls = [ModelCall(model="aitest-scripted:banking")]
    text = render_markdown(RunResults(tests=[replayed, demo]))
    assert (
        "Answers: replayed from recordings made on 2026-11-30 with gpt-4.1 (1 test); "
        "scripted demo model (not a real LLM) (1 test)\n" in text
    )
    assert "| Agent tokens | Agent cost | Judge tokens | Judge cost | Time |" in text
    assert "| 240 | $0.5000 + $0.5000 hypothetical (scripted model) | 30 | $0.2500 | 0 ms |" in text


def test_one_source_is_one_phrase() -> None:
    text = render_markdown(RunResults(tests=[outline_row("gpt-4.1", "passed")]))
    assert "\nAnswers: live on gpt-4.1\n" in text and "Judge" not in text


def test_a_scripted_judges_cost_is_hypothetical() -> None:
    test = outline_row("gpt-4.1", "passed")
    test.conversations[0].turns[0].judgements = [
        Judgement(
            criterion="polite",
            passed=True,
            reasoning="yes",
            model="aitest-scripted:judge",
            usage=Usage(total_tokens=30),
            cost_usd=0.25,
        )
    ]
    text = render_markdown(RunResults(tests=[test]))
    assert "| 30 | $0.2500 hypothetical (scripted model) |" in text
