"""Test doubles that run for real: a scripted OpenAI-compatible model server and example MCP servers."""
