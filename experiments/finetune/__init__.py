"""The fine-tune entry's parts (the published pipeline document's example): its settings and model
names (``settings``, torch-free: the catalog imports it), the model it starts from (``source``),
the epoch loop with gradient checkpointing and mixed precision (``loop``), the files it writes
(``outputs``), its W&B run (``tracking``), and the data versions it read (``data_versions``)."""
