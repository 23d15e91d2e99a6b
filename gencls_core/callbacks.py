"""Trainer callbacks contributed by plugins through ``gencls_trainer_callbacks``."""

from __future__ import annotations

from typing import Any

from gencls_core.errors import ContractError


def trainer_callbacks(ctx: Any) -> list[Any]:
    """Every plugin's callbacks for the training stage ``ctx``, checked to be ``TrainerCallback``s.

    Trainers built on transformers' ``Trainer`` pass these as ``callbacks=``.
    """
    from transformers import TrainerCallback

    callbacks: list[Any] = []
    for impl in ctx.plugins.hook.gencls_trainer_callbacks.get_hookimpls():
        for cb in impl.function(ctx=ctx) or []:  # one plugin at a time, to name it on error
            if not isinstance(cb, TrainerCallback):
                raise ContractError(f"plugin {impl.plugin_name!r} returned {cb!r} from gencls_trainer_callbacks; "
                                    f"expected transformers.TrainerCallback instances")
            callbacks.append(cb)
    return callbacks
