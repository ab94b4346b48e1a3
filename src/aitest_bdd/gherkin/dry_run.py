"""`--aitest-dry-run`: check each scenario without running it.

A scenario passes when every step matches a definition and every agent it names is in `aitest_agents`.
No step runs: nothing is started and no model is called. A Python test is skipped, as only running it
would check it.
"""

from __future__ import annotations

import pytest

from ..config import ConfigError
from .binding import agents_of, find_agent
from .collection import FeatureFile
from .guards import check_placeholders
from .step_check import fail_undefined, scenario_of, step_definitions
from .step_log import finish_step, start_scenario
from .steps.agent_steps import the_agent, the_agent_using_model

AGENT_STEPS = frozenset({the_agent, the_agent_using_model})


def check_instead_of_running(item: pytest.Function) -> bool | None:
    """Check the scenario that `item` runs, in place of running it (True); None lets pytest run the test."""
    found = scenario_of(item)
    if found is None and isinstance(item.parent, FeatureFile):
        return None  # a feature file that cannot be used fails as its own test: let it run, and fail
    if found is None:
        pytest.skip("--aitest-dry-run checks the scenarios of feature files; a Python test is only checked by running")
    feature, scenario = found
    request: pytest.FixtureRequest = item.funcargs["request"]  # type: ignore[assignment]
    start_scenario(request, feature, scenario)
    check_placeholders(request, feature, scenario)
    fail_undefined(request, feature, scenario)
    definitions = step_definitions(item.config)
    for step in scenario.steps:
        definition = definitions.definition(item, step)
        if definition is None or definition.step_func not in AGENT_STEPS:
            continue
        name = definition.parser.parse_arguments(step.name)["name"]
        try:
            find_agent(agents_of(request, name), name, None)
        except ConfigError as error:
            finish_step(request, step, "failed", str(error))
            pytest.fail(str(error), pytrace=False)
    return True
