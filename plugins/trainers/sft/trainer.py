"""Supervised fine-tuning on the gold answers (GenCLS++'s policy warm-up; with a think or gta prompt also the
format warm-up before GTA), with TRL's SFTTrainer."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from gencls_core.interfaces import LoadedModel, Trainer
from gencls_core.truncation import truncation_config
from gencls_core.weights import save_merged
from gencls_plugins.trainers.conversations import prompt_completion
from gencls_plugins.trainers.options import training_args
from gencls_plugins.trainers.sft.answer_head import use_answer_only_head
from gencls_plugins.trainers.sft.config import SFTOptions
from gencls_plugins.trainers.stage import policy_model, run_stage, stage_callbacks

if TYPE_CHECKING:
    from gencls_core.interfaces import RunContext


class SFT(Trainer):
    """Supervised fine-tuning (LoRA by default) with the loss on the answer tokens only."""

    name = "sft"
    multi_process = True

    Config = SFTOptions

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
