"""The model side: `openai` SDK clients for OpenAI-compatible endpoints."""
