"""Guess-Think-Answer (arXiv 2509.12108) on TRL's GRPOTrainer: cross-entropy on the gold guess, GRPO on the
sampled reasoning and answer (never on the sampled guess), and a rule for conflicting gradients."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gencls_core.errors import ConfigError
from gencls_core.rewards import CheckedReward
from gencls_plugins.trainers.answer_head import install_answer_head
from gencls_plugins.trainers.conversations import prompts_with_labels
from gencls_plugins.trainers.grpo.trainer import grpo_args
from gencls_plugins.trainers.gta.config import GTAConfig
from gencls_plugins.trainers.stage import (
    RewardStage,
    choose_on_validation,
    policy_model,
    require_rewards,
    run_stage,
    stage_callbacks,
    validation_split,
)

if TYPE_CHECKING:
    from gencls_core.interfaces import RunContext, StageResult


class GTA(RewardStage):
    """Guess-Think-Answer: CE on the guess span, GRPO on think + answer, format reward, conflict rule."""

    name = "gta"
    multi_process = True
    stage_metrics = ("steps", "loss", "reward")
    Config = GTAConfig

    def train_with_rewards(self, ctx: RunContext) -> StageResult:
        from gencls_plugins.trainers.gta.hf_trainer import GTATrainer
        from gencls_plugins.trainers.gta.spans import guess_targets

        cfg = self.config
        require_rewards(ctx, self.name)
        if ctx.train_prompt.answer_form != "gta":
            raise ConfigError(f"trainer 'gta' needs a training prompt that asks for <guess>, <think> and <answer>, "
                              f"but prompt strategy {ctx.train_prompt.name!r} asks for "
                              f"{ctx.train_prompt.answer_form!r} answers; set prompt.reasoning=gta")
        train, cut = prompts_with_labels(ctx, "train", self.name)
        fmt = ctx.build("reward_func", {"name": "format", "form": "gta"}, "gta.format_reward")
        fmt.setup(ctx.train_labels)
        rewards = [*ctx.rewards, CheckedReward(fmt, "trainer 'gta' format reward", "gta-format", cfg.format_weight)]
        guesses = {c: guess_targets(ctx.lm.tokenizer, ctx.train_labels.verbalize(c)) for c in ctx.train_labels.labels}
        model, peft_config = policy_model(ctx, cfg)
        args = grpo_args(cfg, ctx, [r.weight for r in rewards])
        trainer = GTATrainer(model=model, reward_funcs=rewards, args=args, train_dataset=train,
                             eval_dataset=validation_split(ctx, cfg), processing_class=ctx.lm.tokenizer,
                             peft_config=peft_config, callbacks=stage_callbacks(ctx, cfg), options=cfg,
                             guesses=guesses)
        _, share = install_answer_head(trainer.model, self.name, cfg, cfg.temperature)
        result = run_stage(choose_on_validation(trainer, ctx, cfg), ctx, cut)
        summary = result.summary
        conflicts = [h["conflict"] for h in trainer.state.log_history if "conflict" in h]
        summary.update(train_examples=len(train), shared_prefix=share,
                       conflict_rate=round(sum(conflicts) / len(conflicts), 4) if conflicts else None)
        return result
