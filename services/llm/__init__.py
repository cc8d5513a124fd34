"""The LLM port: outreach copy, conversation summaries and reply understanding (OpenAI or offline)."""
