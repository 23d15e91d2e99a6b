"""The transformers callbacks of every TRL stage (imported when a stage trains: registering the plugins imports
no torch)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from transformers import TrainerCallback

from gencls_core.results import follow_umask
from gencls_plugins.trainers.guards import require_finite, require_finite_weights
from gencls_plugins.trainers.stage import last_logged

if TYPE_CHECKING:
    from gencls_core.interfaces import RunContext


class FiniteGuard(TrainerCallback):
    """Stops the stage on a non-finite trainable weight (after every optimiser step) or logged number."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if model is not None:
            require_finite_weights(self.ctx, model, state.global_step)

    def on_log(self, args, state, control, logs=None, **kwargs):
        require_finite(self.ctx, logs or {}, state.global_step)


class LogAtSave(TrainerCallback):
    """A log entry at every checkpoint, so the loss of the steps before it is in its log history."""

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step % args.save_steps == 0:
            control.should_log = True


class TrainSeconds(TrainerCallback):
    """``train_seconds`` in each log entry: the stage's training wall time so far, over all its attempts (a
    resumed attempt starts from the value logged at its checkpoint, so redone steps count once)."""

    def on_train_begin(self, args, state, control, **kwargs):
        self.before = last_logged(state.log_history, "train_seconds") or 0.0
        self.started = time.time()

    def on_log(self, args, state, control, logs=None, **kwargs):
        state.log_history[-1]["train_seconds"] = round(self.before + time.time() - self.started, 3)


class UmaskModes(TrainerCallback):
    """Checkpoint files get the umask's modes (safetensors writes 0600)."""

    def on_save(self, args, state, control, **kwargs):
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if folder.is_dir():
            follow_umask(folder)
