"""``run.json``: one typed record of a run, kept by its ``RunRecorder``, the file's only writer.

The engine and the stage loop fill the record in as the run goes; the recorder writes it after each step (the
main process only), and ``report.md`` and ``RunResult`` are made from the same record. Readers of a finished run
(``predict``, ``export``, ``study``) read the file as data.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gencls_core.errors import GenclsWarning
from gencls_core.results import write_json

Status = Literal["running", "done", "failed", "interrupted"]


class DataRecord(BaseModel):
    """The run's data: its classes and task, where it came from, the split sizes and the checks found."""

    labels: list[str]
    task: str
    source: dict[str, Any] = Field(default_factory=dict)
    sizes: dict[str, int] = Field(default_factory=dict)
    checks: dict[str, int] = Field(default_factory=dict)
    flipped_train_labels: list[dict[str, Any]] | None = None  # splits.train_label_noise: the rows it flipped
    train_label_counts: dict[str, int] | None = None  # with training stages
    multi_label: bool = False  # each text has a set of labels


class RecipeRecord(BaseModel):
    """A recipe's stages, the choice it made after each (kept or not, and why), its decoder choice and the
    weight it gave the bag of words."""

    name: str
    stages: list[dict[str, Any]]
    choices: list[dict[str, Any]] = Field(default_factory=list)
    decoder: dict[str, Any] | None = None  # {"options": ..., "why": ...}
    lexical: dict[str, Any] | None = None  # {"weight": ..., "C": ..., "why": ...}


class RunRecord(BaseModel):
    """What ``run.json`` holds. Unknown keys are kept, so a record written by another version reads back."""

    model_config = ConfigDict(extra="allow")

    gencls_version: str
    started: str
    seed: int
    device: str
    python: str
    libraries: dict[str, str]
    components: list[dict[str, str]]
    plugins: list[dict[str, str]]
    config: dict[str, Any]
    status: Status = "running"
    processes: dict[str, Any] = Field(default_factory=dict)  # count, and each process's device
    timings: dict[str, float] = Field(default_factory=dict)  # seconds per phase, over all attempts
    resumed: list[str] | None = None  # when each continuation started
    data: DataRecord | None = None
    recipe: RecipeRecord | None = None
    stages: list[dict[str, Any]] | None = None  # one summary row per finished stage
    trained_model: str | None = None  # the kept model's folder, relative to the run directory
    metrics: dict[str, Any] | None = None  # the final evaluation's scalar metrics
    error: str | None = None
    traceback: str | None = None

    def slots(self) -> dict[str, str]:
        """Slot -> the name of the component filling it (model, dataset, decoder, ...)."""
        return {c["slot"]: c["name"] for c in self.components}

    def as_json(self, traceback: bool = True) -> dict[str, Any]:
        """The record as ``run.json`` holds it (keys without a value left out)."""
        return self.model_dump(mode="json", exclude_none=True, exclude=None if traceback else {"traceback"})


class RunRecorder:
    """The only writer of ``path`` (``run.json``): ``save`` writes the record as it stands (``write`` False: a
    process other than the main one, which keeps the record but writes nothing)."""

    def __init__(self, path: Path, record: RunRecord, write: bool = True) -> None:
        self.path, self.record, self.write = path, record, write

    def save(self, **changes: Any) -> None:
        """Apply ``changes`` (fields of the record) and write it."""
        for key, value in changes.items():
            setattr(self.record, key, value)
        if self.write:
            write_json(self.path, self.record.as_json())

    def save_failure(self, status: Status, error: str, traceback: str) -> bool:
        """Record a failed or interrupted run; on a full disk, write it in place without the traceback (the old
        file's space is reused). False when even that failed (a warning says so)."""
        try:
            self.save(status=status, error=error, traceback=traceback)
            return True
        except OSError:
            pass
        try:
            if self.write:
                self.path.write_text(json.dumps(self.record.as_json(traceback=False), default=str))
            return True
        except OSError as err:
            warnings.warn(f"could not record the failure in {self.path} ({err.strerror or err})", GenclsWarning,
                          stacklevel=3)
            return False
