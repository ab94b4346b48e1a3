"""What tokens cost: a price table shipped with the package, extended by the user's own file."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

from pydantic import BaseModel, ValidationError

from ..config import ConfigError
from .turns import Usage


def format_usd(amount: float) -> str:
    """An amount in dollars as messages show it: to a hundredth of a cent below $1, to the cent above."""
    return f"${amount:.4f}" if amount < 1 else f"${amount:,.2f}"


class Price(BaseModel):
    """USD per million input and output tokens, and per million cached input tokens when the provider charges less
    for those (`cached_input`; without it they cost as other input). Reasoning tokens are output tokens."""

    input: float
    output: float
    cached_input: float | None = None


class PriceTable(BaseModel):
    """Prices by model name. A dated snapshot (`gpt-4.1-2025-04-14`) takes its model's price."""

    prices: dict[str, Price]

    def price_of(self, model: str) -> Price | None:
        """The price of `model` (an `openai/` or `azure/` prefix is ignored), or None when unknown."""
        name = model.split("/", 1)[1] if model.split("/", 1)[0] in ("openai", "azure") else model
        if name in self.prices:
            return self.prices[name]
        snapshots = [known for known in self.prices if name.startswith(f"{known}-")]
        return self.prices[max(snapshots, key=len)] if snapshots else None

    def cost(self, model: str, usage: Usage) -> float | None:
        """The cost in USD of `usage` on `model`, or None when its price is unknown."""
        price = self.price_of(model)
        if price is None:
            return None
        cached = min(usage.cached_tokens, usage.prompt_tokens)
        cached_price = price.input if price.cached_input is None else price.cached_input
        fresh = usage.prompt_tokens - cached
        return (fresh * price.input + cached * cached_price + usage.completion_tokens * price.output) / 1_000_000

    def extended(self, path: Path) -> PriceTable:
        """This table with the prices in the JSON file at `path` added or replaced."""
        return PriceTable(prices={**self.prices, **_read(path)})


def default_prices() -> PriceTable:
    """The prices shipped with aitest-bdd."""
    text = files("aitest_bdd").joinpath("data/pricing.json").read_text(encoding="utf-8")
    return PriceTable(prices=_parse(json.loads(text), "the built-in price table"))


def _read(path: Path) -> dict[str, Price]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ConfigError(f"price file {path}: cannot be read as JSON: {error}") from None
    return _parse(data, f"price file {path}")


def _parse(data: object, where: str) -> dict[str, Price]:
    if not isinstance(data, dict):
        raise ConfigError(f'{where}: expected an object like {{"my-model": {{"input": 0.5, "output": 1.5}}}}')
    try:
        return {name: Price.model_validate(value) for name, value in data.items() if not name.startswith("_")}
    except ValidationError as error:
        raise ConfigError(f"{where}: each model needs input and output prices per million tokens: {error}") from None
