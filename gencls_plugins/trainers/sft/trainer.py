"""Supervised fine-tuning on the gold answers (GenCLS++'s policy warm-up; with a think or gta prompt also the
format warm-up before GTA), with TRL's SFTTrainer."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from gencls_core.errors import ConfigError
from gencls_core.interfaces import LoadedModel, Trainer
from gencls_core.truncation import truncation_config
from gencls_core.weights import save_merged
from gencls_plugins.trainers.answer_head import install_answer_head
from gencls_plugins.trainers.conversations import prompt_completion, take_owners
from gencls_plugins.trainers.options import training_args
from gencls_plugins.trainers.sft.config import SFTOptions
from gencls_plugins.trainers.stage import (
    choose_on_validation,
    class_weight_of,
    policy_model,
    run_stage,
    stage_callbacks,
    validation_split,
    weights_summary,
)

if TYPE_CHECKING:
    from gencls_core.interfaces import RunContext, StageResult


class SFT(Trainer):
    """Supervised fine-tuning (LoRA by default) with the loss on the answer tokens only."""

    name = "sft"
    multi_process = True

    Config = SFTOptions

    def head_recipe(self):
        cfg = self.config
        lora = {"r": cfg.lora.r, "alpha": cfg.lora.alpha, "dropout": cfg.lora.dropout} if cfg.lora else {}
        return {**lora, "learning_rate": cfg.learning_rate, "batch_size": cfg.batch_size, "epochs": cfg.epochs}

    def train(self, ctx: RunContext) -> StageResult:
        from trl import SFTConfig

        from gencls_plugins.trainers.sft.hf_trainer import SFTStage

        cfg = self.config
        # prompts leave room for the answer inside max_length, so TRL does not cut answers off
        reserve = truncation_config(ctx).reserve_tokens
        room = max(cfg.max_length - reserve, cfg.max_length // 2) if cfg.max_length else None
        weights = class_weight_of(ctx, cfg, self.name)
        train, cut = prompt_completion(ctx, "train", self.name, cfg.rationales, room, weights)
        train, owners = take_owners(train)
        validation = prompt_completion(ctx, "validation", self.name, cfg.rationales, room, weights).data
        evaluation: dict[str, Any] = {"eval_strategy": "no"}
        if validation is not None:  # the validation loss (or, with best_metric, the decoded metrics)
            evaluation = {"eval_strategy": "steps", "eval_steps": cfg.eval_steps or cfg.save_steps,
                          "per_device_eval_batch_size": cfg.batch_size}
        validation_split(ctx, cfg)  # a stage choosing on validation has one
        args = training_args(SFTConfig, cfg, ctx, max_length=cfg.max_length, packing=False,
                             dataset_num_proc=None, **evaluation,
                             train_sampling_strategy="group_by_length" if cfg.group_by_length else "random")
        model, peft_config = policy_model(ctx, cfg)
        trainer = SFTStage(
            model=model, args=args, train_dataset=train, eval_dataset=validation, processing_class=ctx.lm.tokenizer,
            peft_config=peft_config, callbacks=stage_callbacks(ctx, cfg))
        trainer.window_owners = owners
        choose_on_validation(trainer, ctx, cfg)
        installed, share = install_answer_head(trainer.model, self.name, cfg)
        if weights is not None and not installed:
            raise ConfigError("trainer 'sft': class_weights weigh the loss in the answer-only head; set "
                              "answer_only_head: true (a model that scales or caps its logits cannot use it)")
        result = run_stage(trainer, ctx, cut)
        summary = result.summary
        summary["train_examples"] = len(train)
        summary["shared_prefix"] = share
        summary.update(weights_summary(weights))
        if cfg.merge and ctx.is_main:  # a copy: the run goes on with the adapter
            save_merged(LoadedModel(copy.deepcopy(result.model.model), ctx.lm.tokenizer, ctx.lm.ref),
                        ctx.stage_dir / "merged")
        return result
