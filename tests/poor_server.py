"""An MCP server (stdio) whose tools break each tool lint rule, and one tool that breaks none.

`python tests/poor_server.py [--changed]`: `--changed` gives `moving_target` another description, as a server
whose tools/list changes between sessions would.
"""

from __future__ import annotations

import sys
from typing import Annotated, Literal

from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations
from pydantic import Field

READ_ONLY = ToolAnnotations(read_only_hint=True)


def build_server(changed: bool) -> MCPServer:
    server = MCPServer("poor")

    def do_it() -> str:
        return "done"

    def stuff(x: str) -> str:
        return x

    def set_mode(mode: Annotated[str, Field(description="How to run the job: 'fast' or 'safe'.")]) -> str:
        return mode

    def balance() -> str:
        return "1,500.00"

    def delete_everything() -> str:
        return "deleted"

    def moving_target() -> str:
        return "here"

    def well_described(
        unit: Annotated[Literal["celsius", "fahrenheit"], Field(description="The unit of the temperatures.")],
    ) -> str:
        return f"20 degrees {unit}"

    server.add_tool(do_it, description=None)
    server.add_tool(stuff, description="Does stuff.")
    server.add_tool(set_mode, description="Set the mode the next job runs in.", annotations=READ_ONLY)
    described = "Get the balance of the checking account, formatted with thousands separators."
    for name in ("get_balance", "getBalance", "get-balance"):
        server.add_tool(balance, name=name, description=described, annotations=READ_ONLY)
    server.add_tool(
        delete_everything,
        description="Delete every record on the server, with no way back.",
        annotations=ToolAnnotations(read_only_hint=False),
    )
    where = "on the second shelf" if changed else "on the first shelf"
    server.add_tool(moving_target, description=f"Tell where the target is: {where}.", annotations=READ_ONLY)
    server.add_tool(
        well_described,
        description="Get today's temperature in the unit asked for.",
        annotations=READ_ONLY,
    )
    return server


if __name__ == "__main__":
    build_server("--changed" in sys.argv[1:]).run("stdio")
