"""Options of the stages on TRL's GRPOTrainer (``grpo``, and ``gta`` on top of them)."""

from __future__ import annotations

import importlib.util
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from gencls_core.interfaces import Options
from gencls_plugins.trainers.difficulty import DifficultyBand
from gencls_plugins.trainers.options import AnswerHeadOptions, option


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


class GroupOptions(AnswerHeadOptions):
    """Options of a stage on TRL's GRPOTrainer: sampled groups, the clipped policy loss, the KL term."""

    args_class: ClassVar[str] = "trl.GRPOConfig"
    own_args: ClassVar[dict[str, str]] = {
        **{name: option(name) for name in ("num_generations", "max_completion_length", "temperature", "beta",
                                           "epsilon", "num_iterations", "loss_type", "scale_rewards")},
        "reward_weights": "the rewards' weight", "use_vllm": option("vllm"), "vllm_mode": option("vllm.mode"),
        **{f"vllm_{name}": option(f"vllm.{name}") for name in ("gpu_memory_utilization", "server_host",
                                                                 "server_port")}}

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


class GRPOOptions(GroupOptions):
    difficulty_band: DifficultyBand | None = Field(
        None, description="{low, high}: before the stage, score the training split with the starting policy "
                          "(perplexity decoding) and keep only the examples whose gold-answer probability lies "
                          "in [low, high], the ones it is unsure or wrong about (high defaults to 0.9); the "
                          "summary records band_kept of band_of. null: every example")
