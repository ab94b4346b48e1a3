"""The tool side: MCP servers, the tools an agent is offered, and servers shared by several scenarios."""
