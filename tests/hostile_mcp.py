"""A raw JSON-RPC MCP server over stdio that breaks the protocol in ways the SDK's own server refuses to.

Run it as ``python hostile_mcp.py [--string-schema] [--start-once PATH]``. It speaks just enough of the
protocol (initialize, tools/list, tools/call, prompts/list, prompts/get, resources/list, resources/read,
resources/templates/list). Its tool ``echo`` answers properly; ``malformed_content`` answers with content
blocks that lack their ``text``; ``wrong_structure`` answers with structured content that breaks its own
output schema; ``crash`` ends the process during the call, and so do getting its prompt ``crash`` and
reading its resource ``hostile://crash``. With ``--string-schema`` it also offers ``takes_a_string``, whose
input schema is not an object. With ``--start-once PATH`` it starts only once: it creates PATH, and exits at
once when PATH is already there.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

METHOD_NOT_FOUND = -32601
CLIENT: dict[str, Any] = {}
"""The clientInfo of the initialize request."""
TOOLS = [
    {"name": "echo", "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}}},
    {"name": "malformed_content", "inputSchema": {"type": "object"}},
    {"name": "crash", "inputSchema": {"type": "object"}},
    {"name": "client_info", "description": "Who the client said it is.", "inputSchema": {"type": "object"}},
    {
        "name": "wrong_structure",
        "inputSchema": {"type": "object"},
        "outputSchema": {"type": "object", "properties": {"count": {"type": "integer"}}, "required": ["count"]},
    },
]
CAPABILITIES = {"tools": {}, "prompts": {}, "resources": {}}
CRASH_URI = "hostile://crash"
"""The resource whose reading ends the server."""
STRING_SCHEMA = {"name": "takes_a_string", "description": "Its schema is a string.", "inputSchema": {"type": "string"}}


def reply(message_id: Any, result: dict[str, Any] | None = None, error: str | None = None) -> dict[str, Any]:
    """A JSON-RPC response: `result`, or an error with the message `error`."""
    if error is not None:
        return {"jsonrpc": "2.0", "id": message_id, "error": {"code": METHOD_NOT_FOUND, "message": error}}
    return {"jsonrpc": "2.0", "id": message_id, "result": result}


def answer(message: dict[str, Any], tools: list[dict[str, Any]]) -> dict[str, Any]:
    """The answer to one request."""
    method, params, message_id = message.get("method"), message.get("params") or {}, message["id"]
    if method == "initialize":
        CLIENT.update(params.get("clientInfo") or {})
        server = {"name": "hostile", "version": "1"}
        return reply(
            message_id,
            {"protocolVersion": params.get("protocolVersion"), "capabilities": CAPABILITIES, "serverInfo": server},
        )
    if method == "tools/list":
        return reply(message_id, {"tools": tools})
    if method == "prompts/list":
        return reply(message_id, {"prompts": [{"name": "crash", "description": "Getting it ends the server."}]})
    if method == "resources/list":
        return reply(message_id, {"resources": [{"uri": CRASH_URI, "name": "crash"}]})
    if method == "resources/templates/list":
        return reply(message_id, {"resourceTemplates": []})
    if method in ("prompts/get", "resources/read"):
        os._exit(7)
    if method == "tools/call" and params.get("name") == "echo":
        return reply(message_id, {"content": [{"type": "text", "text": (params.get("arguments") or {}).get("text")}]})
    if method == "tools/call" and params.get("name") == "malformed_content":
        return reply(message_id, {"content": [{"type": "text"}, {"type": "text", "txt": "oops"}]})
    if method == "tools/call" and params.get("name") == "client_info":
        said = f"{CLIENT.get('name')} {CLIENT.get('version')}"
        return reply(message_id, {"content": [{"type": "text", "text": said}]})
    if method == "tools/call" and params.get("name") == "crash":
        os._exit(7)
    if method == "tools/call" and params.get("name") == "wrong_structure":
        seven = {"content": [{"type": "text", "text": "seven"}], "structuredContent": {"count": "seven"}}
        return reply(message_id, seven)
    return reply(message_id, error=f"not served here: {method}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="hostile_mcp", description="An MCP server (stdio) that breaks the protocol.")
    parser.add_argument("--string-schema", action="store_true", help="also offer a tool whose schema is a string")
    parser.add_argument("--start-once", type=Path, metavar="PATH", help="exit when PATH exists, else create it")
    args = parser.parse_args()
    if args.start_once is not None:
        if args.start_once.exists():
            sys.exit(f"hostile_mcp: started once already ({args.start_once} exists)")
        args.start_once.touch()
    tools = [*TOOLS, STRING_SCHEMA] if args.string_schema else TOOLS
    for line in sys.stdin:
        message = json.loads(line)
        if "id" in message:
            sys.stdout.write(json.dumps(answer(message, tools)) + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
