"""PPO with a learned critic and rule-based rewards on a LoRA policy (arXiv 2410.11020), on transformers'
``Trainer`` in the shape of TRL's last PPOTrainer (TRL >= 1.13 has none): a policy-and-value module,
generation through ``unwrap_model_for_generation``, the Trainer's optimizer, scheduler, checkpoints (safetensors),
resume, callbacks, ``report_to`` and DDP."""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import TYPE_CHECKING

from gencls_core.chat import render_prompt
from gencls_core.errors import ConfigError, GenclsWarning
from gencls_core.interfaces import LoadedModel
from gencls_plugins.trainers.conversations import prompts_with_labels
from gencls_plugins.trainers.difficulty import keep_band
from gencls_plugins.trainers.options import training_args
from gencls_plugins.trainers.ppo.config import PPOConfig
from gencls_plugins.trainers.stage import (
    RewardStage,
    last_logged,
    lora_policy,
    require_rewards,
    run_stage,
    stage_callbacks,
)

if TYPE_CHECKING:
    from gencls_core.interfaces import RunContext, StageResult


class PPO(RewardStage):
    """PPO: LoRA policy with a value head, KL penalty to the adapter-free base model, GAE, clipped losses."""

    name = "ppo"
    multi_process = True
    stage_metrics = ("steps", "loss", "reward")
    Config = PPOConfig

    def train_with_rewards(self, ctx: RunContext) -> StageResult:
        import datasets
        import torch
        from transformers import TrainingArguments

        from gencls_core.answers import PrefixTree, answer_token_ids
        from gencls_plugins.trainers.ppo.hf_trainer import PolicyAndValue, PPOTrainer
        from gencls_plugins.trainers.ppo.rollouts import end_ids

        cfg = self.config
        require_rewards(ctx, self.name)
        if cfg.mini_batch_size % ctx.processes:
            raise ConfigError(f"trainers: ppo mini_batch_size {cfg.mini_batch_size} counts the completions of all "
                              f"{ctx.processes} processes together, so it must divide by {ctx.processes}")
        tree = None
        if cfg.constrained:
            answers = answer_token_ids(ctx.lm.tokenizer, ctx.train_labels, end_of_answer=True)
            if max(map(len, answers)) > cfg.max_completion_length:
                raise ConfigError(f"trainers: ppo constrained needs max_completion_length >= {max(map(len, answers))}"
                                  f" (the longest label answer in tokens), got {cfg.max_completion_length}")
            tree = PrefixTree(answers, end_ids(ctx.lm))
        rows = prompts_with_labels(ctx, "train", self.name)
        data, band = keep_band(ctx, rows.data, cfg.difficulty_band, self.name)
        policy = lora_policy(ctx, cfg.lora)
        value_head = torch.nn.Linear(policy.config.get_text_config().hidden_size, 1).to(policy.device)
        torch.nn.init.zeros_(value_head.weight)
        torch.nn.init.zeros_(value_head.bias)
        args = training_args(TrainingArguments, cfg.model_copy(update={"gradient_accumulation": 1}), ctx,
                             max_grad_norm=cfg.max_grad_norm, remove_unused_columns=False)
        if cfg.gradient_checkpointing:
            warnings.warn("trainer 'ppo': gradient_checkpointing has no effect here: PPO scores and updates with "
                          "the model in eval mode (no dropout, so rollout and update log-probabilities agree), and "
                          "transformers checkpoints only in training mode", GenclsWarning, stacklevel=2)
        share = cfg.shared_prefix is not False  # checkpointing, which would turn it off, never runs here
        trainer = PPOTrainer(
            model=PolicyAndValue(policy, value_head), args=args, share=share,
            train_dataset=datasets.Dataset.from_dict({"index": list(range(len(data)))}),
            data_collator=lambda rows: {"index": torch.tensor([r["index"] for r in rows])},
            callbacks=stage_callbacks(ctx), ctx=ctx, options=cfg, tree=tree,
            prompts=[render_prompt(ctx.lm.tokenizer, m) for m in data["prompt"]], data=data)
        result = run_stage(trainer, ctx, rows.truncated)
        summary = result.summary
        kl = last_logged(trainer.state.log_history, "kl")
        summary.update(train_examples=len(data), shared_prefix=share, **band, **({"kl": kl} if kl is not None else {}))
        return replace(result, model=LoadedModel(policy, ctx.lm.tokenizer, ctx.lm.ref))  # the policy, unwrapped
