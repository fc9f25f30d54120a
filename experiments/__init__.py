"""Joule Lab: experiments room."""
