"""Render run results: HTML, Markdown, and merging of shards."""
