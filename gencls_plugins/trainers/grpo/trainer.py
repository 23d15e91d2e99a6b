"""Group-relative policy optimisation with rule-based rewards (GenCLS++'s RL stage), with TRL's GRPOTrainer."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from gencls_core.errors import GenclsWarning
from gencls_plugins.trainers.answer_head import install_answer_head
from gencls_plugins.trainers.conversations import prompts_with_labels
from gencls_plugins.trainers.difficulty import keep_band
from gencls_plugins.trainers.grpo.config import GroupOptions, GRPOOptions
from gencls_plugins.trainers.options import training_args
from gencls_plugins.trainers.stage import (
    RewardStage,
    choose_on_validation,
    policy_model,
    require_rewards,
    run_stage,
    stage_callbacks,
    validation_split,
    with_decoded_validation,
)

if TYPE_CHECKING:
    from gencls_core.interfaces import RunContext, StageResult


def grpo_args(cfg: GroupOptions, ctx: RunContext, reward_weights: list[float]) -> Any:
    """TRL's GRPOConfig for ``cfg``, the rewards weighted by ``reward_weights``."""
    from trl import GRPOConfig

    if cfg.class_weights is not None and cfg.scale_rewards == "group":
        warnings.warn("class_weights scale every completion of a prompt alike, and scale_rewards: group divides "
                      "each group's advantages by their spread, so the weights cancel; set scale_rewards: batch "
                      "or none for them to count", GenclsWarning, stacklevel=2)
    vllm = cfg.vllm
    sampler = {} if vllm is None else {
        "use_vllm": True, "vllm_mode": vllm.mode, "vllm_gpu_memory_utilization": vllm.gpu_memory_utilization,
        "vllm_server_host": vllm.server_host, "vllm_server_port": vllm.server_port}
    return training_args(
        GRPOConfig, cfg, ctx, num_generations=cfg.num_generations,
        max_completion_length=cfg.max_completion_length, temperature=cfg.temperature, beta=cfg.beta,
        epsilon=cfg.epsilon, num_iterations=cfg.num_iterations, loss_type=cfg.loss_type,
        scale_rewards=cfg.scale_rewards, reward_weights=reward_weights, **sampler)


class GRPO(RewardStage):
    """GRPO with the run's rewards; continues an earlier stage's adapter when there is one.

    Samples a group of answers per prompt, scores each with the weighted sum of the reward plugins, and
    pushes up the answers that beat their group's mean.
    """

    name = "grpo"
    multi_process = True
    stage_metrics = ("steps", "loss", "reward")

    Config = GRPOOptions

    def train_with_rewards(self, ctx: RunContext) -> StageResult:
        from trl import GRPOTrainer

        cfg = self.config
        require_rewards(ctx, self.name)
        rows = prompts_with_labels(ctx, "train", self.name)
        train, band = keep_band(ctx, rows.data, cfg.difficulty_band, self.name)
        args = grpo_args(cfg, ctx, [r.weight for r in ctx.rewards])
        model, peft_config = policy_model(ctx, cfg)
        trainer = with_decoded_validation(GRPOTrainer)(
            model=model, reward_funcs=list(ctx.rewards), args=args, train_dataset=train,
            eval_dataset=validation_split(ctx, cfg), processing_class=ctx.lm.tokenizer, peft_config=peft_config,
            callbacks=stage_callbacks(ctx, cfg))
        _, share = install_answer_head(trainer.model, self.name, cfg, cfg.temperature)
        result = run_stage(choose_on_validation(trainer, ctx, cfg), ctx, rows.truncated)
        summary = result.summary
        summary.update(train_examples=len(train), shared_prefix=share, **band)
        return result
