"""Models from local GGUF files, de-quantized by transformers and cached once as safetensors."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import warnings
from pathlib import Path

from pydantic import Field

from gencls_core.assets import CacheWarning, cache_dir, changed_files, describe_changes, write_manifest
from gencls_core.errors import ModelError, not_a_file
from gencls_core.interfaces import LoadedModel, ModelSource
from gencls_plugins.models.hub import DType, DTypeOptions, load_pretrained, with_pad_token


def load_gguf(path: Path, *, device: str, dtype: DType, cache_key: str | None = None) -> LoadedModel:
    """Load a GGUF file; the first call saves a trainable safetensors copy in the gencls cache,
    later calls check that copy against the checksums recorded when it was written and load it (well under a
    second for a small model); a copy that changed is converted again, with a warning."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"GGUF file {path} {not_a_file(path)}")
    if cache_key is None:
        st = path.stat()
        identity = f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()
        cache_key = f"{path.stem}-{hashlib.sha256(identity).hexdigest()[:12]}"
    cached = cache_dir() / "models" / cache_key
    if cached.is_dir():
        changed = changed_files(cached)
        if changed:
            warnings.warn(f"the cached model files of {cached} {describe_changes(changed)}; converting {path} again",
                          CacheWarning, stacklevel=2)
            shutil.rmtree(cached)
    if not cached.is_dir():
        _convert(path, cached)
    lm = load_pretrained(str(cached), device=device, dtype=dtype)
    lm.ref = str(path)
    return lm


def _convert(path: Path, dest: Path) -> None:
    """GGUF -> safetensors folder, written to a temporary folder and renamed into place."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name)
    except (OSError, ValueError, KeyError) as err:
        raise ModelError(f"could not load GGUF file {path}: {err}") from err
    # A GGUF-loaded model stays flagged as quantized although its weights are now dense; clear the
    # flags so it can be saved and trained.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}."))
    try:
        model.save_pretrained(tmp)
        with_pad_token(tokenizer).save_pretrained(tmp)
        write_manifest(tmp, [f for f in tmp.rglob("*") if f.is_file()])
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class GGUFModel(ModelSource):
    """A causal LM from a local GGUF file (de-quantized, cached as safetensors for fast reloads)."""

    name = "gguf"

    class Config(DTypeOptions):
        path: Path = Field(..., description="path of the .gguf file")

    def files(self) -> dict[str, Path]:
        return {"path": self.config.path}

    def load(self, ctx) -> LoadedModel:
        return load_gguf(self.config.path, device=ctx.device, dtype=self.config.dtype)
