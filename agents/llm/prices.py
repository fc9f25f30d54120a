"""What a call cost: tokens times the price per million tokens.

Prices come from `[llm] price_in_per_mtok` / `price_out_per_mtok` when set; otherwise from this
small table of well-known hosted models (USD, as published when written; set the config keys
when they change). Any other model (a local vLLM, Ollama or llama.cpp server) costs 0.
"""

from __future__ import annotations

KNOWN: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
}


def cost_usd(model: str | None, tokens_in: int, tokens_out: int, price_in: float | None = None,
             price_out: float | None = None) -> float:
    known_in, known_out = KNOWN.get((model or "").lower(), (0.0, 0.0))
    p_in = known_in if price_in is None else price_in
    p_out = known_out if price_out is None else price_out
    return round((tokens_in * p_in + tokens_out * p_out) / 1e6, 8)
