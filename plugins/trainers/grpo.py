"""Group-relative policy optimisation with rule-based rewards (GenCLS++'s RL stage), with TRL's GRPOTrainer."""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, model_validator

from gencls_core.interfaces import Options, Trainer
from gencls_plugins.trainers.conversations import prompts_with_labels
from gencls_plugins.trainers.difficulty import DifficultyBand, keep_band
from gencls_plugins.trainers.options import StageOptions, training_args
from gencls_plugins.trainers.stage import policy_model, require_rewards, run_stage, stage_callbacks

if TYPE_CHECKING:
    from gencls_core.interfaces import RunContext


class VllmOptions(Options):
    """Sampling with vLLM (TRL's use_vllm): in the training processes, or from a ``trl vllm-serve`` server."""

    mode: Literal["colocate", "server"] = Field("colocate", description="colocate: vLLM in each training "
                                                                        "process; server: a trl vllm-serve server")
    gpu_memory_utilization: float = Field(0.3, gt=0, le=1, description="GPU memory share vLLM takes (colocate)")
    server_host: str = Field("0.0.0.0", description="the server's host (server)")
    server_port: int = Field(8000, ge=1, description="the server's port (server)")

    @model_validator(mode="after")
    def _installed(self) -> VllmOptions:
        if importlib.util.find_spec("vllm") is None:
            raise ValueError("vllm rollouts need the vllm package (and a CUDA GPU): pip install 'gencls[vllm]', "
                             "or set vllm: null")
        return self


class GroupOptions(StageOptions):
    """Options of a stage on TRL's GRPOTrainer: sampled groups, the clipped policy loss, the KL term."""

    args_class: ClassVar[str] = "trl.GRPOConfig"
    own_args: ClassVar[dict[str, str]] = {
        **{name: name for name in ("num_generations", "max_completion_length", "temperature", "beta", "epsilon",
                                   "num_iterations", "loss_type", "scale_rewards")},
        "reward_weights": "the rewards' weight", "use_vllm": "vllm", "vllm_mode": "vllm.mode",
        "vllm_gpu_memory_utilization": "vllm.gpu_memory_utilization", "vllm_server_host": "vllm.server_host",
        "vllm_server_port": "vllm.server_port"}

    learning_rate: float = Field(1e-5, gt=0, description="peak learning rate (AdamW)")
    batch_size: int = Field(16, ge=1, description="completions per batch, all processes together (each of n "
                                                  "processes samples batch_size / n); batch_size x "
                                                  "gradient_accumulation is a multiple of num_generations")
    num_generations: int = Field(8, ge=2, description="answers sampled per prompt (the group)")
    max_completion_length: int = Field(16, ge=1, description="most tokens generated per answer")
    temperature: float = Field(1.0, gt=0, description="sampling temperature")
    beta: float = Field(0.0, ge=0, description="KL coefficient against the stage's starting policy "
                                               "(0: no reference model)")
    epsilon: float = Field(0.2, gt=0, description="clipping range of the policy ratio")
    num_iterations: int = Field(1, ge=1, description="optimisation passes per batch of generations")
    loss_type: str = Field("dapo", description="TRL loss aggregation: grpo, dr_grpo, dapo, bnpo, ...")
    scale_rewards: str = Field("group", description="advantage scaling: group, batch or none")
    vllm: VllmOptions | None = Field(None, description="sample with vLLM (pip install 'gencls[vllm]', CUDA): "
                                                       "{mode: colocate} or {mode: server, server_host, "
                                                       "server_port}; null: transformers' generate")

    @model_validator(mode="after")
    def _groups(self) -> GroupOptions:
        if (self.batch_size * self.gradient_accumulation) % self.num_generations:
            raise ValueError(f"batch_size x gradient_accumulation ({self.batch_size} x "
                             f"{self.gradient_accumulation}) must be a multiple of num_generations "
                             f"({self.num_generations})")
        return self


def grpo_args(cfg: GroupOptions, ctx: RunContext, reward_weights: list[float]) -> Any:
    """TRL's GRPOConfig for ``cfg``, the rewards weighted by ``reward_weights``."""
    from trl import GRPOConfig

    vllm = cfg.vllm
    sampler = {} if vllm is None else {
        "use_vllm": True, "vllm_mode": vllm.mode, "vllm_gpu_memory_utilization": vllm.gpu_memory_utilization,
        "vllm_server_host": vllm.server_host, "vllm_server_port": vllm.server_port}
    return training_args(
        GRPOConfig, cfg, ctx, num_generations=cfg.num_generations,
        max_completion_length=cfg.max_completion_length, temperature=cfg.temperature, beta=cfg.beta,
        epsilon=cfg.epsilon, num_iterations=cfg.num_iterations, loss_type=cfg.loss_type,
        scale_rewards=cfg.scale_rewards, reward_weights=reward_weights, **sampler)


class GRPO(Trainer):
    """GRPO with the run's rewards; continues an earlier stage's adapter when there is one.

    Samples a group of answers per prompt, scores each with the weighted sum of the reward plugins, and
    pushes up the answers that beat their group's mean.
    """

    name = "grpo"
    multi_process = True
    stage_metrics = ("steps", "loss", "reward")

    class Config(GroupOptions):
        difficulty_band: DifficultyBand | None = Field(
            None, description="{low, high}: before the stage, score the training split with the starting policy "
                              "(perplexity decoding) and keep only the examples whose gold-answer probability lies "
                              "in [low, high], the ones it is unsure or wrong about (high defaults to 0.9); the "
                              "summary records band_kept of band_of. null: every example")

    def train(self, ctx: RunContext) -> dict[str, Any]:
        from trl import GRPOTrainer

        cfg = self.config
        require_rewards(ctx, self.name)
        train, band = keep_band(ctx, prompts_with_labels(ctx, "train", self.name), cfg.difficulty_band, self.name)
        args = grpo_args(cfg, ctx, [r.weight for r in ctx.rewards])
        model, peft_config = policy_model(ctx, cfg)
        trainer = GRPOTrainer(model=model, reward_funcs=list(ctx.rewards), args=args, train_dataset=train,
                              processing_class=ctx.lm.tokenizer, peft_config=peft_config,
                              callbacks=stage_callbacks(ctx))
        summary = run_stage(trainer, ctx)
        summary.update(train_examples=len(train), **band)
        return summary
