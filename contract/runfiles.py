"""The files of one run's directory, and the line protocol of a run on a remote node: the names
the engine, its executors and the experiment programs (which import nothing else of the lab)
agree on. DESIGN's run protocol and docs/PROTOCOL.md describe what each holds."""

from __future__ import annotations

SPEC = "spec.json"          # what the run is: written by the engine before it starts
EVENTS = "events.jsonl"     # what the run says: appended by the program, ingested by the engine
STDOUT = "stdout"
STDERR = "stderr"
PID_FILE = "pid"            # written by the run's wrapper (or the warm worker) as it starts
EXIT_FILE = "exit_code"     # written when it ends, so an engine that was down still learns how
DEPS = "deps"               # a remote run's copies of the runs it depends on
RUN_FILES = (SPEC, EVENTS, STDOUT, STDERR, PID_FILE, EXIT_FILE)
PROTOCOL_FILES = frozenset({*RUN_FILES, DEPS})  # everything else in a run's directory is its output

#: the metric that marks where each of a run's consecutive trainings starts (its index, at its
#: first step; PROTOCOL.md §4): a boundary of the curves, not a curve
TRAINING_METRIC = "training"

#: a remote run (a Ray job) sends its files back through its log: lines that start with MARK and a
#: channel letter (the file's, from CHANNELS; "a"/"A": the outputs archive; "x": the exit code)
MARK = "@joulelab:"
CHANNELS = {EVENTS: "e", STDOUT: "o", STDERR: "r"}
