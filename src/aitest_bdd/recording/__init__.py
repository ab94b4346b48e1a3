"""Record and replay: a conversation's model and tool traffic, saved to a file and served from it."""
