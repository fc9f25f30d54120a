"""Joule Lab: tui room."""
