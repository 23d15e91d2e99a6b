"""A training stage's result on disk: a LoRA adapter or full weights, with the tokenizer."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from gencls_core.interfaces import LoadedModel
from gencls_core.results import follow_umask
from gencls_core.verbosity import library_notices_off


def save_trained(lm: LoadedModel, path: Path) -> None:
    """Write the model (adapter only for PEFT models) and tokenizer to ``path``, replacing it whole."""
    tmp = path.with_name(f".{path.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    lm.model.save_pretrained(tmp)
    lm.tokenizer.save_pretrained(tmp)
    if (tmp / "adapter_config.json").is_file():  # PEFT's empty card template, naming a local cache path
        (tmp / "README.md").write_text(adapter_card(lm.ref))
    follow_umask(tmp)
    shutil.rmtree(path, ignore_errors=True)
    tmp.rename(path)


def adapter_card(base: str) -> str:
    """A short model card for a stage's LoRA adapter: what it is and how gencls uses it; a local base model path
    is not published."""
    local = Path(base).is_absolute() or base.startswith(("~", "."))
    front = [] if local else [f"base_model: {base}"]
    named = "its base model" if local else f"`{base}`"
    return "\n".join(["---", "library_name: peft", *front, "tags: [gencls, lora, generative-classification]", "---",
                      "", "# A LoRA adapter trained by a gencls stage", "",
                      f"The adapter of one training stage of a gencls run, on {named}. It answers with a class "
                      f"name; the run directory holds its labels, prompt and decoder (`run.json`). Use the run "
                      f"(`gencls predict RUN_DIR texts.txt`) or export it (`gencls export RUN_DIR OUT`: merged "
                      f"weights, the tokenizer and a full model card).", ""])


def load_trained(base: LoadedModel, path: Path, *, same_base: bool = True) -> LoadedModel:
    """``base`` with the stage result at ``path`` applied: its adapter (trainable) or its full weights. A file that
    cannot be read is a ModelError naming it, and so is an adapter trained on another base model (a warning
    unless ``same_base``: an adapter brought from elsewhere may name its base differently)."""
    from gencls_core.errors import ModelError

    if not (path / "config.json").is_file() and not (path / "adapter_config.json").is_file():
        raise ModelError(f"trained model folder {path} is missing or incomplete (no config.json or "
                         f"adapter_config.json)")
    try:
        if (path / "adapter_config.json").is_file():
            from peft import PeftModel

            _check_adapter_base(base, path / "adapter_config.json", same_base)
            with library_notices_off():  # peft reads a property transformers has deprecated
                model: Any = PeftModel.from_pretrained(base.model, str(path), is_trainable=True)
        else:
            from transformers import AutoModelForCausalLM

            model = AutoModelForCausalLM.from_pretrained(path, dtype=base.model.dtype)
    except ModelError:
        raise
    except Exception as err:  # safetensors, peft and transformers raise many types for a damaged file
        why = " ".join(str(err).split())[:300]
        raise ModelError(f"could not load the trained model in {path} ({type(err).__name__}: {why}); its files "
                         f"are damaged or were not written by gencls: train the stage again "
                         f"(gencls run --resume retrains an unfinished one)") from err
    return LoadedModel(model.to(base.model.device), base.tokenizer, ref=f"{base.ref} + {path}")


def _check_adapter_base(base: LoadedModel, adapter_config: Path, strict: bool) -> None:
    """The adapter was trained on ``base`` (the same model folder name), else a ModelError (a warning unless
    ``strict``)."""
    import json
    import warnings

    from gencls_core.errors import GenclsWarning, ModelError

    try:
        trained_on = json.loads(adapter_config.read_text()).get("base_model_name_or_path")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as err:
        raise ModelError(f"{adapter_config} is not a JSON object ({err}); the adapter folder is damaged") from None
    loaded = getattr(base.model, "name_or_path", "") or ""
    if not trained_on or not loaded or Path(str(trained_on)).name == Path(loaded).name:
        return
    if not strict:
        warnings.warn(f"the adapter in {adapter_config.parent} names {trained_on!r} as its base model; applying it "
                      f"to {loaded!r}", GenclsWarning, stacklevel=3)
        return
    raise ModelError(f"the adapter in {adapter_config.parent} was trained on {trained_on!r}, but the run's model is "
                     f"{loaded!r}; a run directory's adapter is only applied to its own base model. If the base "
                     f"model only moved, set base_model_name_or_path in {adapter_config} to {loaded!r}")


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


def save_merged(lm: LoadedModel, folder: Path, dtype: str = "float32") -> None:
    """The model, with its adapter merged in if it has one, and the tokenizer, as a plain transformers folder
    (safetensors), the weights as ``dtype`` (a torch dtype name)."""
    import torch

    model = merged(lm).model.to(getattr(torch, dtype))
    model.save_pretrained(folder, safe_serialization=True)
    lm.tokenizer.save_pretrained(folder)
