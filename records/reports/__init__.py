"""Reports written from the lab's numbers: per experiment (`report.md` + figures, committed with
its record), the lab-wide research summary (`lab report`) and a paper draft (`lab paper`).

Every number comes from the validator's rating breakdown (or, for an experiment that could not be
rated, from the same `science.analysis`); nothing here computes a statistic a second way.
matplotlib is imported only when a figure is drawn, in the process that draws it: never the engine.
"""
