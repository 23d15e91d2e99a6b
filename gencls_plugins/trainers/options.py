"""Options every training stage shares, and how they become TRL/transformers training arguments."""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, model_validator

from gencls_core.errors import ConfigError, did_you_mean
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


# metric names where lower is better (calibration error, answers that named no label, losses)
LOWER_IS_BETTER = ("ece", "loss", "unparseable", "no_label", "multiple_labels", "abstained")


def option(name: str) -> str:
    """How a refused ``trainer_args`` name points at the stage option that sets it."""
    return f"the stage option {name}"


# the TrainingArguments gencls sets for every stage, and what sets each
MANAGED_ARGS = {
    "output_dir": "the run directory", "seed": "the run's seed", "data_seed": "the run's seed",
    **{arg: option(name) for arg, name in (
        ("num_train_epochs", "epochs"), ("max_steps", "max_steps"), ("per_device_train_batch_size", "batch_size"),
        ("gradient_accumulation_steps", "gradient_accumulation"), ("learning_rate", "learning_rate"),
        ("lr_scheduler_type", "lr_scheduler"), ("warmup_steps", "warmup"), ("weight_decay", "weight_decay"),
        ("logging_steps", "logging_steps"), ("save_strategy", "save_steps"), ("save_steps", "save_steps"),
        ("save_total_limit", "save_total_limit"), ("report_to", "report_to"),
        ("activation_checkpointing", "gradient_checkpointing"), ("gradient_checkpointing", "gradient_checkpointing"),
        ("eval_strategy", "eval_steps"), ("eval_steps", "eval_steps"), ("metric_for_best_model", "best_metric"),
        ("load_best_model_at_end", "best_metric"), ("greater_is_better", "best_metric"))},
    "disable_tqdm": "the run's progress setting",
    "bf16": "the device", "fp16": "the device", "use_cpu": "the device",
    "logging_nan_inf_filter": "gencls (off, so that a NaN loss stops the stage)",
}


def check_trainer_args(given: dict[str, Any], args_class: str, managed: dict[str, str]) -> None:
    """Each name of ``given`` must be an argument of ``args_class`` ("module.Class") that gencls does not set
    itself (``managed``: name -> what sets it, e.g. ``option("learning_rate")``); ``deepspeed`` needs the
    deepspeed package."""
    if not given:
        return
    import dataclasses

    module, _, name = args_class.rpartition(".")
    names = {f.name for f in dataclasses.fields(getattr(importlib.import_module(module), name)) if f.init}
    for key in given:
        if key in managed:
            raise ValueError(f"trainer_args.{key} is set by gencls from {managed[key]}; set that instead")
        if key not in names:
            raise ValueError(f"trainer_args.{key} is not an argument of {name}{did_you_mean(key, names)}")
    if given.get("deepspeed") and importlib.util.find_spec("deepspeed") is None:
        raise ValueError("trainer_args.deepspeed needs the deepspeed package: pip install 'gencls[deepspeed]'")


class StageOptions(Options):
    """Optimisation, checkpointing and logging options of a training stage."""

    args_class: ClassVar[str] = "transformers.TrainingArguments"  # the config class trainer_args go to
    own_args: ClassVar[dict[str, str]] = {}  # further arguments of it the stage sets, and from what

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
    gradient_checkpointing: bool = Field(
        False, description="activation checkpointing: less memory, slower steps (for SmolLM2-135M off is 1.9x "
                           "faster on an H100 at batch 8, 18% on CPU); turn it on for a model that does not fit")
    best_metric: str | None = Field(
        None, description="choose on the validation split: every eval_steps decode it with the run's decoder, keep "
                          "the checkpoint with the best value of this metric (accuracy, f1_macro, ...) and end the "
                          "stage with its weights (null: the last weights). A run without a validation split gets "
                          "one carved from the training split")
    patience: int | None = Field(None, ge=1, description="stop after this many validation evaluations without a "
                                                         "better best_metric (null: train every step)")
    eval_steps: int | None = Field(None, ge=1, description="evaluate on the validation split every this many steps "
                                                           "(null: at each checkpoint, save_steps)")
    class_weights: Literal["balanced"] | dict[str, float] | None = Field(
        None, description="weigh each example by its gold class: balanced (n / (classes * n_class), as "
                          "scikit-learn) or {class: weight} (others 1). sft: the answer loss; RL stages: the rewards")
    trainer_args: dict[str, Any] = Field(
        default_factory=dict, description="further arguments of the stage's transformers/TRL config class "
                                          "(TrainingArguments, SFTConfig, GRPOConfig), checked by name when the "
                                          "config is read, e.g. {max_grad_norm: 0.5, optim: adamw_torch_fused, "
                                          "deepspeed: ds_zero2.json}; what the options above set is refused")

    @model_validator(mode="after")
    def _trainer_args(self) -> StageOptions:
        check_trainer_args(self.trainer_args, self.args_class, {**MANAGED_ARGS, **self.own_args})
        if isinstance(self.class_weights, dict) and any(not w > 0 for w in self.class_weights.values()):
            raise ValueError(f"class_weights must be positive, got {self.class_weights}")
        if self.patience is not None and self.best_metric is None:
            raise ValueError("patience needs best_metric: the metric whose lack of improvement stops the stage")
        return self

    def selection_args(self) -> dict[str, Any]:
        """The TrainingArguments of choosing on validation: evaluate and checkpoint every ``eval_steps``, keep the
        best checkpoint by ``best_metric`` and load it at the end (none without ``best_metric``)."""
        if self.best_metric is None:
            return {}
        every = self.eval_steps or self.save_steps
        return {"eval_strategy": "steps", "eval_steps": every, "save_steps": every,
                "metric_for_best_model": self.best_metric, "load_best_model_at_end": True,
                "greater_is_better": not any(w in self.best_metric for w in LOWER_IS_BETTER)}


class AnswerHeadOptions(StageOptions):
    """Options of a stage on a TRL trainer whose fused LM head the answer-only head replaces (sft, grpo, gta,
    dpo)."""

    answer_only_head: bool = Field(
        True, description="project only the trained positions (the answer's, or the sampled completion's) through "
                          "the LM head: the same loss, log-probabilities, entropies and gradients as TRL's fused "
                          "head, which scores every position off Triton devices (CPU). Models that scale or cap "
                          "their logits keep TRL's head (with a warning)")
    shared_prefix: bool | None = Field(
        None, description="encode the tokens every prompt of a batch starts with (chat template, instructions, "
                          "label list) once per batch, with gradients, and run only each example's own tokens on "
                          "top (left-padded prompts re-laid with that prefix first): the same loss and gradients "
                          "(LoRA dropout draws one mask for the prefix). null: on wherever it runs (with "
                          "answer_only_head, not under gradient_checkpointing); true: on (an error without "
                          "answer_only_head, a warning under gradient_checkpointing); false: off")


def prefix_shared(trainer: str, opts: Any) -> bool:
    """Whether a stage with options ``opts`` gets its ``shared_prefix`` (null: wherever it runs): not under
    ``gradient_checkpointing``, whose training forward turns off the key/value cache the prefix pass hands to every
    example (a warning when it was asked for)."""
    if opts.gradient_checkpointing:
        if opts.shared_prefix:
            import warnings

            from gencls_core.errors import GenclsWarning

            warnings.warn(f"trainer {trainer!r}: shared_prefix is off under gradient_checkpointing (checkpointing "
                          f"turns off the key/value cache the shared prefix is passed on in); every prompt is "
                          f"encoded whole", GenclsWarning, stacklevel=3)
        return False
    return opts.shared_prefix is not False


def training_args(args_cls: type, opts: StageOptions, ctx: RunContext, **extra: Any) -> Any:
    """``args_cls`` (SFTConfig, GRPOConfig, ...) filled from the shared options and the run context.

    CUDA with bf16 when the device has it, CPU otherwise; checkpoints go to ``<stage_dir>/checkpoints``.
    """
    import torch

    cuda = ctx.device == "cuda"
    report_to = opts.report_to
    if report_to is None:
        report_to = ["tensorboard"] if importlib.util.find_spec("tensorboard") else ["none"]
    if opts.batch_size % ctx.processes:
        fit = max(opts.batch_size // ctx.processes, 1) * ctx.processes
        raise ConfigError(f"batch_size {opts.batch_size} is the batch of all {ctx.processes} processes together, "
                          f"so it must divide by {ctx.processes}; use {fit}")
    clash = sorted(set(opts.trainer_args) & set(extra))
    if clash:
        raise ConfigError(f"trainer_args.{clash[0]} is set by the stage itself; set the stage's own option instead")
    extra = {"save_steps": opts.save_steps, **extra, **opts.selection_args()}
    return args_cls(
        output_dir=str(ctx.stage_dir / "checkpoints"), seed=ctx.seed, data_seed=ctx.seed,
        num_train_epochs=opts.epochs, max_steps=opts.max_steps,
        per_device_train_batch_size=opts.batch_size // ctx.processes,
        gradient_accumulation_steps=opts.gradient_accumulation,
        learning_rate=opts.learning_rate, lr_scheduler_type=opts.lr_scheduler, warmup_steps=opts.warmup,
        weight_decay=opts.weight_decay, logging_steps=opts.logging_steps, save_strategy="steps",
        save_total_limit=opts.save_total_limit, report_to=report_to,
        activation_checkpointing=opts.gradient_checkpointing, bf16=cuda and torch.cuda.is_bf16_supported(), fp16=False,
        use_cpu=not cuda, disable_tqdm=not ctx.progress, logging_nan_inf_filter=False, **extra,
        **opts.trainer_args)
