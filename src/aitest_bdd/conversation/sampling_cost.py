"""What the answers to MCP servers' sampling requests add to a turn: their tokens count in its usage, and their
cost, priced on their own model, in its cost."""

from __future__ import annotations

from ..tools.call_events import Sampling
from .pricing import PriceTable
from .turns import ToolCall, Turn, Usage


def sampling_usage(call: ToolCall) -> Usage:
    """The tokens the sampling requests of `call` used."""
    total = Usage()
    for sampling in call.samplings:
        total = total + sampling_tokens(sampling)
    return total


def priced(prices: PriceTable | None, sampling: Sampling) -> Sampling:
    """`sampling` with its cost on its own model (None when the model has no price)."""
    cost = prices.cost(sampling.model, sampling_tokens(sampling)) if prices is not None else None
    return sampling.model_copy(update={"cost_usd": cost})


def turn_cost(prices: PriceTable, turn: Turn) -> float | None:
    """What the turn's model calls cost, and its tools' sampling requests, each on its own model; None when the
    agent's model has no price. A sampling request whose model has no price adds nothing: `unpriced_samplers` names
    its model."""
    agent = Usage()
    for call in turn.model_calls:
        agent = agent + call.usage
    cost = prices.cost(turn.model, agent)
    if cost is None:
        return None
    return cost + sum(sampling.cost_usd or 0.0 for call in turn.tool_calls for sampling in call.samplings)


def unpriced_samplers(turns: list[Turn]) -> set[str]:
    """The models without a price that answered the turns' sampling requests."""
    return {
        sampling.model
        for turn in turns
        for call in turn.tool_calls
        for sampling in call.samplings
        if sampling.cost_usd is None and sampling.problem is None
    }


def sampling_tokens(sampling: Sampling) -> Usage:
    """The tokens one sampling request's answer used."""
    return Usage(
        prompt_tokens=sampling.prompt_tokens,
        completion_tokens=sampling.completion_tokens,
        total_tokens=sampling.total_tokens,
    )
