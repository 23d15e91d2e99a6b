"""Supervised fine-tuning on the gold answers (GenCLS++'s policy warm-up; with a think or gta prompt also the
format warm-up before GTA), with TRL's SFTTrainer."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from gencls_core.interfaces import LoadedModel, Trainer
from gencls_core.truncation import truncation_config
from gencls_core.weights import save_merged
from gencls_plugins.trainers.answer_head import use_answer_only_head
from gencls_plugins.trainers.conversations import prompt_completion
from gencls_plugins.trainers.options import StageOptions, training_args
from gencls_plugins.trainers.rationales import RationaleOptions
from gencls_plugins.trainers.stage import policy_model, run_stage, stage_callbacks

if TYPE_CHECKING:
    from gencls_core.interfaces import RunContext


class SFT(Trainer):
    """Supervised fine-tuning (LoRA by default) with the loss on the answer tokens only."""

    name = "sft"
    multi_process = True

    class Config(StageOptions):
        args_class: ClassVar[str] = "trl.SFTConfig"
        own_args: ClassVar[dict[str, str]] = {
            "max_length": "max_length", "packing": "sft (off)", "dataset_num_proc": "sft",
            "eval_strategy": "eval_steps", "eval_steps": "eval_steps", "per_device_eval_batch_size": "batch_size",
            "train_sampling_strategy": "group_by_length"}
        max_length: int | None = Field(1024, description="longest prompt + answer in tokens; prompts are fitted to "
                                                         "leave room for the answer (truncation.reserve_tokens); "
                                                         "null: no limit")
        eval_steps: int | None = Field(None, description="evaluate on the validation split every this many "
                                                         "steps (null: at each checkpoint)")
        rationales: RationaleOptions = Field(default_factory=RationaleOptions,
                                             description="the reasoning of gold answers when the prompt asks "
                                                         "to think first (reasoning think or gta)")
        merge: bool = Field(False, description="also save the base model with the adapter merged in "
                                               "(<stage>/merged)")
        answer_only_head: bool = Field(
            True, description="project only the answer positions through the LM head: the same loss, metrics and "
                              "gradients as TRL's fused head, which scores every position off Triton devices (CPU). "
                              "Models that scale or cap their logits keep TRL's head (with a warning)")
        group_by_length: bool = Field(
            True, description="batch examples of similar length together (transformers' LengthGroupedSampler: "
                              "shuffled groups of 50 batches, each sorted by length): less padding, a different "
                              "batch order than false")

    def train(self, ctx: RunContext) -> dict[str, Any]:
        from trl import SFTConfig, SFTTrainer

        cfg = self.config
        # prompts leave room for the answer inside max_length, so TRL does not cut answers off
        reserve = truncation_config(ctx).reserve_tokens
        room = max(cfg.max_length - reserve, cfg.max_length // 2) if cfg.max_length else None
        train = prompt_completion(ctx, "train", self.name, cfg.rationales, room)
        validation = prompt_completion(ctx, "validation", self.name, cfg.rationales, room)
        evaluation: dict[str, Any] = {"eval_strategy": "no"}
        if validation is not None:
            evaluation = {"eval_strategy": "steps", "eval_steps": cfg.eval_steps or cfg.save_steps,
                          "per_device_eval_batch_size": cfg.batch_size}
        args = training_args(SFTConfig, cfg, ctx, max_length=cfg.max_length, packing=False,
                             dataset_num_proc=None, **evaluation,
                             train_sampling_strategy="group_by_length" if cfg.group_by_length else "random")
        model, peft_config = policy_model(ctx, cfg)
        trainer = SFTTrainer(model=model, args=args, train_dataset=train, eval_dataset=validation,
                             processing_class=ctx.lm.tokenizer, peft_config=peft_config,
                             callbacks=stage_callbacks(ctx))
        if cfg.answer_only_head:
            use_answer_only_head(trainer.model)
        summary = run_stage(trainer, ctx)
        summary["train_examples"] = len(train)
        if cfg.merge and ctx.is_main:  # a copy: the run goes on with the adapter
            save_merged(LoadedModel(copy.deepcopy(ctx.lm.model), ctx.lm.tokenizer, ctx.lm.ref),
                        ctx.stage_dir / "merged")
        return summary
