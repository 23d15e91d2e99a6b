"""Models loaded with ``from_pretrained``: a Hugging Face hub id or a local folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from gencls_core.errors import ModelError
from gencls_core.interfaces import LoadedModel, ModelSource, Options

DType = Literal["auto", "float32", "bfloat16", "float16"]


class DTypeOptions(Options):
    dtype: DType = Field("auto", description="weights dtype; auto = bfloat16 on a bf16-capable GPU, else float32")


def torch_dtype(dtype: DType, device: str) -> Any:
    import torch

    if dtype == "auto":
        return torch.bfloat16 if device == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    return getattr(torch, dtype)


def load_pretrained(ref: str, *, device: str, dtype: DType = "auto", **kwargs: Any) -> LoadedModel:
    """Model and tokenizer via transformers' Auto classes; the tokenizer gets a pad token if it lacks one."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path_like = ref.startswith((".", "/", "~")) or ref.count("/") > 1 or "\\" in ref  # hub ids are org/name
    if path_like and not Path(ref).expanduser().is_dir():
        raise ModelError(f"model folder {ref} does not exist (model.path)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(ref, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(ref, dtype=torch_dtype(dtype, device), **kwargs)
    except Exception as err:  # transformers, tokenizers and safetensors raise many types for a bad folder
        why = " ".join(str(err).split())[:500]
        if Path(ref).expanduser().is_dir():
            raise ModelError(f"could not load the model in {ref} ({type(err).__name__}: {why}); its files are "
                             f"damaged or incomplete: copy or export the model again") from err
        raise ModelError(f"could not load model {ref!r} from a local folder or the Hugging Face hub: {why} "
                         f"Without hub access, pass a local model folder as model.path") from err
    return LoadedModel(model.eval(), with_pad_token(tokenizer), ref)


def with_pad_token(tokenizer: Any) -> Any:
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


class HubModel(ModelSource):
    """A causal LM from the Hugging Face hub (id like org/name) or a local folder, via from_pretrained."""

    name = "hf"

    class Config(DTypeOptions):
        path: str = Field(..., description="hub id (org/name) or local model folder")
        revision: str | None = Field(None, description="hub branch, tag or commit")
        trust_remote_code: bool = Field(False, description="allow model code from the hub to run")

    def load(self, ctx) -> LoadedModel:
        c = self.config
        extra = {"revision": c.revision} if c.revision else {}
        return load_pretrained(c.path, device=ctx.device, dtype=c.dtype,
                               trust_remote_code=c.trust_remote_code, **extra)

    def card(self) -> dict[str, str]:
        return {} if Path(self.config.path).exists() else {"base_model": self.config.path}  # a hub id
