"""The run: its state in one place, conversations that span tests, and pytest-xdist scheduling."""
