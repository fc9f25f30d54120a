"""Training programs, one module per catalog entry; each exposes ``run(ctx) -> result values``.
Imported only when a run starts (they import torch)."""
