"""Joule Lab: engine room."""
