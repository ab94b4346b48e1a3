"""`--aitest-steps`: list every step the collected tests can use, with its docs, then exit.

The library's steps come first, in the groups of the step reference (docs/steps.md); then the steps of
each of your modules.
"""

from __future__ import annotations

import inspect

import pytest
from pytest_bdd.steps import StepFunctionContext

from .step_check import step_definitions
from .step_log import relative_path
from .suggestions import readable

LIBRARY_GROUPS = {
    "aitest_bdd.gherkin.steps.agent_steps": (
        "The agent and the user",
        "'using model' takes any model string a Provider accepts; 'the user says:' takes a docstring below it.",
    ),
    "aitest_bdd.gherkin.steps.tool_steps": (
        "Tool calls",
        "About the last turn, unless the step ends with 'in the conversation', 'so far' or 'in turn N'. "
        "'with:' takes | argument | value | rows; 'in order:' one tool per row.",
    ),
    "aitest_bdd.gherkin.steps.response_steps": (
        "The response",
        "Text is compared ignoring case. 'satisfies' and the clarification steps ask the judge model "
        "(--aitest-judge-model).",
    ),
    "aitest_bdd.gherkin.steps.budget_steps": (
        "Time, tokens and cost",
        "Cost needs the model's price (built in, or in the aitest_pricing file).",
    ),
    "aitest_bdd.gherkin.steps.judge_steps": (
        "Judges: rubrics, scores and the whole conversation",
        "A rubric takes | criterion | weight | rows (weight a number, or must); --aitest-judge-samples K asks the "
        "judge K times for each verdict.",
    ),
    "aitest_bdd.gherkin.steps.simulated_user_steps": (
        "Simulated users",
        "The user model (--aitest-user-model, else the judge model) plays the user until it says its goal is reached "
        "or gives up, or the turn limit; 'talks to the agent ...:' takes Persona:, Goal: and Instructions: lines.",
    ),
    "aitest_bdd.gherkin.steps.context_steps": (
        "MCP prompts and resources",
        "'with:' takes | argument | value | rows; 'from the server' picks one of the agent's servers. A resource "
        "goes in before the next user message.",
    ),
    "aitest_bdd.gherkin.steps.server_request_steps": (
        "What MCP servers ask",
        "The user's answers to a server's questions (elicitation) come before the turn; 'answer ... with:' takes "
        "| field | value | rows. The Then steps take a scope like the tool steps.",
    ),
    "aitest_bdd.gherkin.steps.stub_steps": (
        "Tool stubs and faults",
        "For this scenario only, in front of the MCP servers: a stubbed call is checked against the tool's schema, "
        "recorded and marked stubbed. 'returns:' takes a docstring (JSON or text) or | field | value | rows.",
    ),
}
"""The step reference's section of each library step module: its title and what to know about its steps."""


def show_steps(config: pytest.Config, session: pytest.Session) -> int:
    """Collect, then write every available step, grouped, to the terminal."""
    session.perform_collect()
    writer = config.get_terminal_writer()
    notes = dict(LIBRARY_GROUPS.values())
    for title, contexts in grouped(available_steps(session)).items():
        writer.line()
        writer.sep("-", title)
        if title in notes:
            writer.line(notes[title])
        for context in contexts:
            _write_step(writer, context, config)
    return 0


def available_steps(session: pytest.Session) -> list[StepFunctionContext]:
    """The step definitions visible to the run and to each collected test, each once."""
    definitions = step_definitions(session.config)
    nodes = [session, *dict.fromkeys(item.parent or item for item in session.items)]
    found = {id(context): context for node in nodes for context in definitions.visible_to(node)}
    return list(found.values())


def grouped(contexts: list[StepFunctionContext]) -> dict[str, list[StepFunctionContext]]:
    """The steps under their group's title: the library's sections first, then each other module's name."""
    groups: dict[str, list[StepFunctionContext]] = {title: [] for title, _ in LIBRARY_GROUPS.values()}
    for context in sorted(contexts, key=_place):
        module = context.step_func.__module__
        title = LIBRARY_GROUPS[module][0] if module in LIBRARY_GROUPS else f"steps in {module}"
        groups.setdefault(title, []).append(context)
    return {title: found for title, found in groups.items() if found}


def _place(context: StepFunctionContext) -> tuple[str, int]:
    return context.step_func.__module__, _line(context)


def _write_step(writer, context: StepFunctionContext, config: pytest.Config) -> None:
    keyword = (context.type or "step").title()
    writer.write(f"{keyword} {readable(context.parser.name)}", green=True)
    if config.option.verbose > 0 or context.step_func.__module__ not in LIBRARY_GROUPS:
        writer.write(f" -- {_location(context, config)}", yellow=True)
    writer.line()
    doc = inspect.getdoc(context.step_func)
    for line in (doc or "").splitlines():
        writer.line(f"    {line}")


def _location(context: StepFunctionContext, config: pytest.Config) -> str:
    file = inspect.getsourcefile(context.step_func) or context.step_func.__module__
    return f"{relative_path(file, config)}:{_line(context)}"


def _line(context: StepFunctionContext) -> int:
    """The line a step function starts at (from its code: a function may have no source file to read)."""
    return context.step_func.__code__.co_firstlineno
