"""Checkpoints of the hand-written RL loop (PPO): the adapter, the optimizer, extra modules, the RNG
and a JSON state, in ``<stage>/checkpoints/checkpoint-<step>``; ``state.json`` is written last and marks a
complete checkpoint.

Optimizer, RNG and module states are plain tensors and containers, saved with ``torch.save`` and loaded
with ``weights_only=True``: a file that needs anything else (a pickled object, code) is refused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gencls_core.errors import UsageError
from gencls_core.results import write_json

if TYPE_CHECKING:
    from gencls_core.interfaces import RunContext

STATE_FILE = "trainer_state.pt"


def newest_checkpoint(folder: Path, marker: str | None = None) -> Path | None:
    """The ``checkpoint-N`` folder in ``folder`` with the largest N (among those holding ``marker``, the file a
    complete checkpoint is written last), or None."""
    if not folder.is_dir():
        return None
    done = [p for p in folder.glob("checkpoint-*")
            if p.name.split("-")[-1].isdigit() and (marker is None or (p / marker).is_file())]
    return max(done, key=lambda p: int(p.name.split("-")[-1]), default=None)


def last_checkpoint(ctx: RunContext, marker: str = "state.json") -> Path | None:
    """When resuming, the stage's newest complete checkpoint (``marker``: ``state.json`` for gencls's own loops,
    ``trainer_state.json`` for transformers' Trainer); else None."""
    return newest_checkpoint(ctx.stage_dir / "checkpoints", marker) if ctx.resume else None


def save_checkpoint(path: Path, model: Any, optimizer: Any, state: dict[str, Any],
                    modules: dict[str, Any]) -> None:
    import torch

    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    torch.save({"optimizer": optimizer.state_dict(), "torch_rng": torch.get_rng_state(),
                **{k: m.state_dict() for k, m in modules.items()}}, path / STATE_FILE)
    write_json(path / "state.json", state)


def load_checkpoint(path: Path, model: Any, optimizer: Any, modules: dict[str, Any]) -> dict[str, Any]:
    """Restore the adapter, optimizer, RNG and ``modules`` in place; return the JSON state."""
    import pickle

    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    set_peft_model_state_dict(model, load_file(str(path / "adapter_model.safetensors")))
    try:
        saved = torch.load(path / STATE_FILE, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError) as err:
        raise UsageError(f"{path / STATE_FILE} holds more than tensors and plain containers, so it is not loaded "
                         f"(it may have been replaced; a gencls checkpoint never needs that). Remove the folder "
                         f"{path} to resume from an earlier checkpoint. ({' '.join(str(err).split())[:200]})"
                         ) from None
    optimizer.load_state_dict(saved["optimizer"])
    torch.set_rng_state(saved["torch_rng"])
    for key, module in modules.items():
        module.load_state_dict(saved[key])
    return json.loads((path / "state.json").read_text())
