"""Built-in apps: agents written with other frameworks, run as the agent under test."""
