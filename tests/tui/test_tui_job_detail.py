"""The control room's experiment detail shows the external id and description of a job that came
in the published format."""

from __future__ import annotations

from dataclasses import replace

from rich.console import Console

from contract.experiment_metadata import ExperimentMetadata, PublishedJob
from db import Experiment, ExperimentState
from tui.screens.detail import overview


def text_of(renderable: object) -> str:
    console = Console(width=100, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_the_detail_overview_names_the_external_id_and_description() -> None:
    exp = Experiment(id=1, name="job", catalog="logreg", status=ExperimentState.DONE, params={"steps": 3}, plan=[],
                     seeds=2, hypothesis="h",
                     metadata=ExperimentMetadata(job=PublishedJob("pipeline-2024-017",
                                                                  "Does the stand-in keep its accuracy?")))
    shown = text_of(overview(exp))
    assert "External id: pipeline-2024-017" in shown and "Description: Does the stand-in keep its accuracy?" in shown
    assert "External id" not in text_of(overview(replace(exp, metadata=ExperimentMetadata())))
