"""Reusable test doubles (fake LLM servers, ...)."""
