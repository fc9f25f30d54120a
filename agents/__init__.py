"""Joule Lab: agents room."""
