"""Inputs and results of the lifecycle step workflows (workflows/steps.py).

Plain data in their own module, imported passed through the workflow sandbox: the sandbox re-runs
a workflow's module for every new workflow run, and building these pydantic classes each time was
a large share of the worker's CPU when hundreds of runtimes provisioned at once.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from activities.payloads import RuntimeRef

__all__ = ["DrainInput", "StepInput", "StepResult"]


class StepInput(BaseModel):
    """What every step needs: the runtime as last seen, its catalogs and the numbers to reach."""

    runtime: dict[str, Any]
    catalogs: list[dict[str, Any]] = Field(default_factory=list)
    secret_versions: dict[str, str] = Field(default_factory=dict)
    worker_replicas: int = 0
    current_workers: int = 0
    ready_timeout_seconds: float = 300.0
    poll_seconds: float = 0.1
    first_provision: bool = False
    stop_grace_seconds: int = Field(
        default=2, ge=0, description="Pod grace when a suspend or delete stops compute without a drain.")
    keep_suspended: bool = Field(
        default=False, description="Provision with compute at zero: the runtime stays suspended by request.")


class StepResult(BaseModel):
    coordinator_url: str | None = None
    workers_ready: int = 0
    catalogs: list[str] = Field(default_factory=list)
    message: str = ""


class DrainInput(BaseModel):
    ref: RuntimeRef
    target: int
    timeout_seconds: float
    poll_seconds: float = 0.25
