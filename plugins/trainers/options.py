"""Options every training stage shares, and how they become TRL/transformers training arguments."""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

from pydantic import Field

from gencls_core.errors import ConfigError
from gencls_core.interfaces import Options

if TYPE_CHECKING:
    from gencls_core.interfaces import RunContext


class LoraOptions(Options):
    """A LoRA adapter (PEFT)."""

    r: int = Field(16, ge=1, description="adapter rank")
    alpha: int = Field(32, ge=1, description="scaling numerator (lora_alpha)")
    dropout: float = Field(0.05, ge=0, lt=1, description="dropout on the adapter input")
    target_modules: list[str] = Field(["q_proj", "k_proj", "v_proj", "o_proj"],
                                      description="module names to adapt")

    def peft_config(self) -> Any:
        from peft import LoraConfig

        return LoraConfig(r=self.r, lora_alpha=self.alpha, lora_dropout=self.dropout,
                          target_modules=list(self.target_modules), task_type="CAUSAL_LM")


class StageOptions(Options):
    """Optimisation, checkpointing and logging options of a training stage."""

    lora: LoraOptions | None = Field(default_factory=LoraOptions,
                                     description="LoRA adapter; null = full fine-tuning")
    epochs: float = Field(1.0, gt=0, description="passes over the training split")
    max_steps: int = Field(-1, description="stop after this many optimiser steps (-1: run the epochs)")
    batch_size: int = Field(8, ge=1, description="examples per batch, all processes together (each of n "
                                                 "processes takes batch_size / n); an optimiser step takes "
                                                 "gradient_accumulation batches")
    gradient_accumulation: int = Field(1, ge=1, description="batches per optimiser step")
    learning_rate: float = Field(2e-4, gt=0, description="peak learning rate (AdamW)")
    lr_scheduler: str = Field("linear", description="transformers scheduler name, e.g. linear, cosine, constant")
    warmup: float = Field(0.0, ge=0, description="warm-up steps (a fraction of all steps when < 1)")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay")
    logging_steps: int = Field(10, ge=1, description="log every this many steps")
    save_steps: int = Field(50, ge=1, description="checkpoint every this many steps")
    save_total_limit: int | None = Field(2, description="keep at most this many checkpoints (null: all)")
    report_to: list[str] | None = Field(None, description="transformers report_to integrations "
                                                          "(null: tensorboard when installed, else none)")
    gradient_checkpointing: bool | None = Field(None, description="null: on with CUDA, off on CPU (faster there)")


def training_args(args_cls: type, opts: StageOptions, ctx: RunContext, **extra: Any) -> Any:
    """``args_cls`` (SFTConfig, GRPOConfig, ...) filled from the shared options and the run context.

    CUDA with bf16 when the device has it, CPU otherwise; checkpoints go to ``<stage_dir>/checkpoints``.
    """
    import torch

    cuda = ctx.device == "cuda"
    report_to = opts.report_to
    if report_to is None:
        report_to = ["tensorboard"] if importlib.util.find_spec("tensorboard") else ["none"]
    checkpointing = cuda if opts.gradient_checkpointing is None else opts.gradient_checkpointing
    if opts.batch_size % ctx.processes:
        fit = max(opts.batch_size // ctx.processes, 1) * ctx.processes
        raise ConfigError(f"batch_size {opts.batch_size} is the batch of all {ctx.processes} processes together, "
                          f"so it must divide by {ctx.processes}; use {fit}")
    return args_cls(
        output_dir=str(ctx.stage_dir / "checkpoints"), seed=ctx.seed, data_seed=ctx.seed,
        num_train_epochs=opts.epochs, max_steps=opts.max_steps,
        per_device_train_batch_size=opts.batch_size // ctx.processes,
        gradient_accumulation_steps=opts.gradient_accumulation,
        learning_rate=opts.learning_rate, lr_scheduler_type=opts.lr_scheduler, warmup_steps=opts.warmup,
        weight_decay=opts.weight_decay, logging_steps=opts.logging_steps, save_strategy="steps",
        save_steps=opts.save_steps, save_total_limit=opts.save_total_limit, report_to=report_to,
        activation_checkpointing=checkpointing, bf16=cuda and torch.cuda.is_bf16_supported(), fp16=False,
        use_cpu=not cuda, disable_tqdm=not ctx.progress, logging_nan_inf_filter=False, **extra)
