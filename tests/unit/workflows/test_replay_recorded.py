"""Recorded lifecycle histories (tests/histories/, written by the integration replay test with
XTRINODE_RECORD_HISTORIES=1) replay against the current workflow code, with no server: a change
that would break running workflows fails here until it is guarded with workflow.patched."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workers.lifecycle import workflow_runner
from workflows.runtime import RuntimeWorkflow
from workflows.steps import STEP_WORKFLOWS

HISTORIES = sorted((Path(__file__).resolve().parents[2] / "histories").glob("*.json"))


def _short(path: Path) -> str:
    return path.stem.split("~", 3)[-1]


def test_recorded_histories_exist() -> None:
    assert len(HISTORIES) >= 7, "record them: XTRINODE_RECORD_HISTORIES=1 pytest tests/integration/lifecycle -k replay"


@pytest.mark.parametrize("path", HISTORIES, ids=[_short(p) for p in HISTORIES])
async def test_recorded_history_replays(path: Path) -> None:
    replayer = Replayer(workflows=[RuntimeWorkflow, *STEP_WORKFLOWS], data_converter=pydantic_data_converter,
                        workflow_runner=workflow_runner())
    workflow_id = path.stem.replace("~", "/")
    await replayer.replay_workflow(WorkflowHistory.from_json(workflow_id, path.read_text()))
