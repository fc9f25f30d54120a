"""The lab's record, one capability: what a finished experiment leaves for people and tools.

- git.py: each finished experiment committed to the lab's git repository (the engine's finisher
  calls `Recorder`);
- reports/: the report of one experiment, the lab's summary and tracker, the paper (written in a
  subprocess, `python -m records report`, so matplotlib and scipy never load in the engine);
- reproduce.py, compare.py, genealogy.py: a re-run of an experiment, the difference between two,
  the lineage of all;
- export.py (+ emissions, MLflow, TensorBoard): the records in other tools' formats.

The control room and the command line only call these. Never imports torch, the engine's loop or
the control room.
"""
