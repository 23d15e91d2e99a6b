"""Finding a stage's checkpoints: ``<stage>/checkpoints/checkpoint-<step>``, complete once the Trainer has
written ``trainer_state.json`` into it (its last file)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gencls_core.interfaces import RunContext

MARKER = "trainer_state.json"


def newest_checkpoint(folder: Path, marker: str | None = None) -> Path | None:
    """The ``checkpoint-N`` folder in ``folder`` with the largest N (among those holding ``marker``, the file a
    complete checkpoint is written last), or None."""
    if not folder.is_dir():
        return None
    done = [p for p in folder.glob("checkpoint-*")
            if p.name.split("-")[-1].isdigit() and (marker is None or (p / marker).is_file())]
    return max(done, key=lambda p: int(p.name.split("-")[-1]), default=None)


def last_checkpoint(ctx: RunContext) -> Path | None:
    """When resuming, the stage's newest complete checkpoint; else None."""
    return newest_checkpoint(ctx.stage_dir / "checkpoints", MARKER) if ctx.resume else None
