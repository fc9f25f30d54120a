"""The run protocol's version (docs/PROTOCOL.md): one number for every message family between the
lab and the experiment programs. The spec (`contract.runspec`), the catalog's answer
(`contract.catalog_answer`) and the warm worker's `Ready` (`contract.warmworker`) carry it as `protocol`
and are refused under another; each event line (`contract.events`) carries it as `v`, because the
engine can read the events of a program older than itself (a run re-attached after the lab was
upgraded).

History: 1, the first; 2, the `error` event and the events' `v` (a line without `v` is of 1)."""

from __future__ import annotations

PROTOCOL = 2
