"""The control room's screens, one per file, each styled by the .tcss file beside it."""
