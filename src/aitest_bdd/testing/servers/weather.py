"""Example MCP server: canned weather for a handful of cities.

Run it with ``python -m aitest_bdd.testing.servers.weather`` (stdio), or add
``--transport streamable-http --host 127.0.0.1 --port 8000`` to serve it at ``/mcp``.
The data is fixed (no randomness, no clock): Paris is 18°C and partly cloudy today, and it
rains in Paris tomorrow (80% chance of rain), so a demo agent can say "bring an umbrella".
Besides JSON, two tools answer with other content: `get_weather_icon` with a PNG image (drawn here, a
few hundred bytes), `get_weather_report` with an embedded text resource and a link to a resource.
"""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Sequence
from typing import Annotated

import mcp_types
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

CityName = Annotated[
    str,
    Field(
        description=f"City name, case-insensitive. One of: {CITY_NAMES}.",
        examples=["Paris"],
        json_schema_extra={"enum": list(CURRENT)},
    ),
]


def resolve_city(city: str) -> str:
    """Return the canonical spelling of ``city`` or raise a ToolError naming the valid cities."""
    wanted = " ".join(city.split()).casefold()
    for name in CURRENT:
        if name.casefold() == wanted:
            return name
    raise ToolError(f"Unknown city {city!r}. Available cities: {CITY_NAMES}.")


ICON_SIZE = 32
SKY = {"clear": (90, 160, 230), "cloudy": (150, 160, 175), "rainy": (95, 105, 125)}
SUN, CLOUD, RAIN = (250, 205, 40), (235, 235, 240), (60, 110, 220)


def sky_of(conditions: str) -> str:
    """The icon drawn for `conditions`: "rainy", "cloudy" or "clear"."""
    if "rain" in conditions or "shower" in conditions or "thunder" in conditions:
        return "rainy"
    return "cloudy" if "cloud" in conditions or "overcast" in conditions else "clear"


def icon_png(sky: str) -> bytes:
    """A 32x32 PNG of the weather: a sun on blue, a cloud on grey, or a cloud with rain below it."""

    def pixel(x: int, y: int) -> tuple[int, int, int]:
        if sky == "clear" and (x - 16) ** 2 + (y - 16) ** 2 < 64:
            return SUN
        if sky != "clear" and 6 <= x < 26 and 8 <= y < 18 and (x - 16) ** 2 / 100 + (y - 13) ** 2 / 25 < 1:
            return CLOUD
        if sky == "rainy" and y >= 20 and (x + y) % 6 == 0:
            return RAIN
        return SKY[sky]

    rows = b"".join(b"\x00" + bytes(value for x in range(ICON_SIZE) for value in pixel(x, y)) for y in range(ICON_SIZE))
    header = struct.pack(">IIBBBBB", ICON_SIZE, ICON_SIZE, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows)) + _chunk(b"IEND", b"")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


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

    def get_weather_icon(city: CityName) -> list[mcp_types.TextContent | mcp_types.ImageContent]:
        """Get a picture of the current weather in a city: a line of text, then a 32x32 PNG icon
        (a sun, a cloud, or a cloud with rain).
        """
        name = resolve_city(city)
        conditions = CURRENT[name][1]
        data = base64.b64encode(icon_png(sky_of(conditions))).decode("ascii")
        return [
            mcp_types.TextContent(type="text", text=f"The weather icon for {name} ({conditions}):"),
            mcp_types.ImageContent(type="image", data=data, mime_type="image/png"),
        ]

    def get_weather_report(
        city: CityName,
    ) -> list[mcp_types.TextContent | mcp_types.EmbeddedResource | mcp_types.ResourceLink]:
        """Get the written weather report for a city: today's weather as an embedded text resource, and a
        link to the city's forecast resource.
        """
        name = resolve_city(city)
        temperature, conditions, humidity, wind = CURRENT[name]
        slug = name.lower().replace(" ", "-")
        report = f"Weather report for {name}: {temperature}°C and {conditions}, humidity {humidity}%, wind {wind} km/h."
        return [
            mcp_types.TextContent(type="text", text=f"The weather report for {name}:"),
            mcp_types.EmbeddedResource(
                type="resource",
                resource=mcp_types.TextResourceContents(
                    uri=f"weather://reports/{slug}", mime_type="text/plain", text=report
                ),
            ),
            mcp_types.ResourceLink(
                type="resource_link",
                name=f"{name} forecast",
                uri=f"weather://forecasts/{slug}",
                description=f"The {MAX_FORECAST_DAYS}-day forecast for {name}",
                mime_type="application/json",
            ),
        ]

    add_tools(server, get_weather, get_forecast, get_weather_icon, get_weather_report)
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
