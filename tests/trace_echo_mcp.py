"""A stdio MCP server that tells which trace context a tool call carried: its tool ``traceparent`` answers the
`traceparent` of the request's ``_meta`` (empty when there was none).

Run it as ``python trace_echo_mcp.py``.
"""

from mcp.server.mcpserver import Context, MCPServer

from aitest_bdd.testing.servers._cli import add_tools, run_stdio


def traceparent(ctx: Context) -> str:
    """The W3C trace context this call was sent with."""
    return str((ctx.request_context.meta or {}).get("traceparent", ""))


if __name__ == "__main__":
    server = MCPServer("trace-echo")
    add_tools(server, traceparent)
    run_stdio(server)
