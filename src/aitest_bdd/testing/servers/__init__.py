"""Example MCP servers for demos and tests."""
