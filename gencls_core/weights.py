"""A training stage's result on disk: a LoRA adapter or full weights, with the tokenizer."""

from __future__ import annotations

import shutil
from pathlib import Path

from gencls_core.interfaces import LoadedModel


def save_trained(lm: LoadedModel, path: Path) -> None:
    """Write the model (adapter only for PEFT models) and tokenizer to ``path``, replacing it whole."""
    tmp = path.with_name(f".{path.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    lm.model.save_pretrained(tmp)
    lm.tokenizer.save_pretrained(tmp)
    shutil.rmtree(path, ignore_errors=True)
    tmp.rename(path)


def load_trained(base: LoadedModel, path: Path) -> LoadedModel:
    """``base`` with the stage result at ``path`` applied: its adapter (trainable) or its full weights."""
    if not (path / "config.json").is_file() and not (path / "adapter_config.json").is_file():
        from gencls_core.errors import ModelError

        raise ModelError(f"trained model folder {path} is missing or incomplete (no config.json or "
                         f"adapter_config.json)")
    if (path / "adapter_config.json").is_file():
        from peft import PeftModel

        model = PeftModel.from_pretrained(base.model, str(path), is_trainable=True)
    else:
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(path, dtype=base.model.dtype)
    return LoadedModel(model.to(base.model.device), base.tokenizer, ref=f"{base.ref} + {path}")
