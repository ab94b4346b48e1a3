"""Domain steps for the banking features, built on what the conversation recorded."""

from pytest_bdd import parsers, then

from aitest_bdd import AgentSession
from aitest_bdd.gherkin.steps import fail


@then(parsers.re(r'money moves from "(?P<source>[^"]+)" to "(?P<target>[^"]+)"'))
def money_moves(aitest_session: AgentSession, source: str, target: str) -> None:
    """The last turn made a transfer between the two accounts that the bank accepted."""
    for call in aitest_session.last_turn.tool_calls_for("transfer"):
        arguments = call.arguments
        if arguments.get("from_account") == source and arguments.get("to_account") == target and not call.is_error:
            return
    fail(f'expected a successful transfer from "{source}" to "{target}"', aitest_session)
