"""Joule Lab: the science room. The catalog, job files and deliverables, statistics, the analysis
of an experiment's evidence, the rubric, findings, follow-ups and the roadmap's measure: pure
reading of the record, no language model. The research team (agents/) and every other room use
it; it imports only the contract and the database."""
