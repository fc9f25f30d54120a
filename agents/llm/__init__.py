"""The optional language model: an OpenAI-compatible chat-completions client over httpx.

Imported only when the `openai` backend is chosen, so the offline lab never loads httpx.
"""
