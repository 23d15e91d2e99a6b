"""Stopping a training stage at the first non-finite number, before anything is checkpointed from it.

A diverged stage raises ``TrainingDiverged`` naming the step and the quantity; the checkpoints written
before it stay, so the stage can be resumed (e.g. with a lower learning rate).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from gencls_core.errors import TrainingDiverged
from gencls_plugins.trainers.checkpoints import newest_checkpoint

if TYPE_CHECKING:
    from gencls_core.interfaces import RunContext

WATCHED = ("loss", "grad_norm", "reward", "eval_loss", "kl", "policy_loss", "value_loss", "sft_loss", "rl_loss")


def _fail(ctx: RunContext, what: str, value: Any, step: int) -> None:
    newest = newest_checkpoint(ctx.stage_dir / "checkpoints")
    last = f"the last checkpoint before it is {newest}" if newest else "no checkpoint was written before it"
    raise TrainingDiverged(f"training stage {ctx.stage_dir.name}: {what} is {value} at step {step}; training "
                           f"diverged ({last}). Lower the learning rate (or raise warm-up) and run again")


def require_finite(ctx: RunContext, values: dict[str, Any], step: int) -> None:
    """Every watched number in ``values`` (a log entry) is finite."""
    for key in WATCHED:
        value = values.get(key)
        if isinstance(value, (int, float)) and not math.isfinite(value):
            _fail(ctx, key, value, step)


def require_finite_weights(ctx: RunContext, model: Any, step: int) -> None:
    """Every trainable parameter of ``model`` is finite."""
    for name, param in model.named_parameters():
        if param.requires_grad and not bool(param.detach().isfinite().all()):
            _fail(ctx, f"trainable weight {name}", "not finite", step)
