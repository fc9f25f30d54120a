"""The control room's widgets, one per file, each styled by the .tcss file beside it."""
