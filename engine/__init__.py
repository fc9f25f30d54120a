"""Joule Lab's engine room: the daemon that schedules, runs, watches and ingests training runs.

Never imports torch, transformers, peft, codecarbon or textual.
"""
