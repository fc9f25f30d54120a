"""Joule Lab: the command line room (`lab`). It opens the control room (tui/) and drives the
engine, the record and the research team; no room imports it."""
