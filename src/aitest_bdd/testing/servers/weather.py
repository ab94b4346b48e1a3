"""Example MCP server: canned weather for a handful of cities.

Run it with ``python -m aitest_bdd.testing.servers.weather`` (stdio), or add
``--transport streamable-http --host 127.0.0.1 --port 8000`` to serve it at ``/mcp``.
The data is fixed (no randomness, no clock): Paris is 18°C and partly cloudy today, and it
rains in Paris tomorrow (80% chance of rain), so a demo agent can say "bring an umbrella".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

from aitest_bdd.testing.servers._cli import add_tools, run_cli

MAX_FORECAST_DAYS = 5

# The demo week starts on a Monday: day 1 of a forecast is "tomorrow" (Tuesday).
FORECAST_DAY_NAMES = ("tomorrow", "Wednesday", "Thursday", "Friday", "Saturday")


class CurrentWeather(TypedDict):
    city: str
    temperature_c: int
    conditions: str
    humidity: int
    wind_kph: int


class DailyForecast(TypedDict):
    day: str
    high_c: int
    low_c: int
    conditions: str
    chance_of_rain: int


class Forecast(TypedDict):
    city: str
    days: list[DailyForecast]


# city -> (temperature_c, conditions, humidity %, wind_kph)
CURRENT: dict[str, tuple[int, str, int, int]] = {
    "Paris": (18, "partly cloudy", 65, 12),
    "London": (14, "overcast", 78, 19),
    "Tokyo": (24, "sunny", 60, 8),
    "New York": (21, "clear", 55, 15),
    "Berlin": (16, "light rain", 82, 22),
}

# city -> one (high_c, low_c, conditions, chance_of_rain %) per forecast day, starting tomorrow
FORECAST: dict[str, list[tuple[int, int, str, int]]] = {
    "Paris": [
        (16, 11, "rain", 80),
        (17, 10, "showers", 60),
        (19, 11, "partly cloudy", 20),
        (21, 12, "sunny", 5),
        (20, 13, "cloudy", 30),
    ],
    "London": [
        (15, 9, "light rain", 70),
        (14, 8, "overcast", 40),
        (16, 9, "partly cloudy", 25),
        (17, 10, "showers", 55),
        (15, 9, "rain", 75),
    ],
    "Tokyo": [
        (26, 19, "sunny", 10),
        (27, 20, "partly cloudy", 15),
        (25, 20, "thunderstorms", 70),
        (23, 18, "rain", 85),
        (25, 19, "cloudy", 30),
    ],
    "New York": [
        (23, 15, "sunny", 5),
        (25, 17, "partly cloudy", 10),
        (22, 16, "thunderstorms", 65),
        (20, 14, "cloudy", 35),
        (22, 15, "sunny", 5),
    ],
    "Berlin": [
        (15, 8, "showers", 60),
        (17, 9, "cloudy", 35),
        (18, 10, "partly cloudy", 20),
        (20, 11, "sunny", 5),
        (19, 12, "light rain", 55),
    ],
}

CITY_NAMES = ", ".join(CURRENT)

CityName = Annotated[str, Field(description=f"City name, case-insensitive. One of: {CITY_NAMES}.", examples=["Paris"])]


def resolve_city(city: str) -> str:
    """Return the canonical spelling of ``city`` or raise a ToolError naming the valid cities."""
    wanted = " ".join(city.split()).casefold()
    for name in CURRENT:
        if name.casefold() == wanted:
            return name
    raise ToolError(f"Unknown city {city!r}. Available cities: {CITY_NAMES}.")


def build_server() -> MCPServer:
    """Create a weather server (its data never changes)."""
    server = MCPServer(
        "weather",
        instructions=f"Current weather and daily forecasts (up to {MAX_FORECAST_DAYS} days) for {CITY_NAMES}.",
    )

    def get_weather(city: CityName) -> CurrentWeather:
        """Get the current weather in a city.

        Returns the temperature in °C, a short description of the conditions (e.g. "partly cloudy"),
        the relative humidity in percent and the wind speed in km/h.
        """
        name = resolve_city(city)
        temperature, conditions, humidity, wind = CURRENT[name]
        return CurrentWeather(
            city=name, temperature_c=temperature, conditions=conditions, humidity=humidity, wind_kph=wind
        )

    def get_forecast(
        city: CityName,
        days: Annotated[
            int, Field(description=f"Number of days to forecast, starting tomorrow (1 to {MAX_FORECAST_DAYS}).")
        ] = 1,
    ) -> Forecast:
        """Get the daily weather forecast for a city, starting tomorrow.

        Returns the city and a `days` list with one entry per day: the day ("tomorrow", then
        weekday names), the high and low temperatures in °C, the expected conditions and the
        chance of rain in percent.
        A high chance of rain means the user should bring an umbrella.
        """
        name = resolve_city(city)
        if not 1 <= days <= MAX_FORECAST_DAYS:
            raise ToolError(f"Invalid days {days}: choose a number from 1 to {MAX_FORECAST_DAYS}.")
        daily = [
            DailyForecast(day=label, high_c=high, low_c=low, conditions=conditions, chance_of_rain=rain)
            for label, (high, low, conditions, rain) in zip(FORECAST_DAY_NAMES, FORECAST[name][:days], strict=False)
        ]
        return Forecast(city=name, days=daily)

    add_tools(server, get_weather, get_forecast)
    return server


def main(argv: Sequence[str] | None = None) -> None:
    run_cli(
        build_server,
        prog="python -m aitest_bdd.testing.servers.weather",
        description="Example MCP server: canned weather and forecasts for a few cities.",
        argv=argv,
    )


if __name__ == "__main__":
    main()
