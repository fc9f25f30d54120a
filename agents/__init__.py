"""Joule Lab: the research team room (researcher, architect, coder, validator, their dialogue and
language-model client). It uses the science room (science/); nothing of the science imports it."""
