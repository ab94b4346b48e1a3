"""The report: results collected from every test, the terminal summary, and the JSON, HTML and Markdown outputs."""
