"""Options of the PPO stage."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, model_validator

from gencls_plugins.trainers.difficulty import DifficultyBand
from gencls_plugins.trainers.options import LoraOptions, StageOptions, option


class PPOConfig(StageOptions):
    own_args: ClassVar[dict[str, str]] = {"max_grad_norm": option("max_grad_norm"),
                                          "remove_unused_columns": "ppo (off: it reads its own columns)"}

    lora: LoraOptions = Field(default_factory=LoraOptions, description="LoRA adapter of the policy (an earlier "
                                                                        "stage's adapter is kept); the reference "
                                                                        "policy is the model without it")
    max_steps: int = Field(100, description="rollout batches, each followed by the PPO updates (-1: run the "
                                            "epochs)")
    batch_size: int = Field(8, ge=1, description="prompts per rollout batch, all processes together (each of n "
                                                 "processes samples batch_size / n)")
    mini_batch_size: int = Field(4, ge=1, description="completions per optimiser step, all processes together")
    gradient_accumulation: int = Field(1, ge=1, description="micro-batches each mini-batch is split into "
                                                            "(same updates, less memory)")
    ppo_epochs: int = Field(4, ge=1, description="passes over each rollout batch")
    learning_rate: float = Field(1e-5, gt=0, description="AdamW learning rate (adapter and value head)")
    lr_scheduler: str = Field("constant", description="transformers scheduler name, stepped once per rollout "
                                                      "batch")
    logging_steps: int = Field(1, ge=1, description="log every this many rollout batches")
    save_steps: int = Field(50, ge=1, description="checkpoint every this many rollout batches")
    max_completion_length: int = Field(8, ge=1, description="most tokens sampled per answer")
    temperature: float = Field(1.0, gt=0, description="sampling temperature (log-probs use the same)")
    kl_coef: float = Field(0.05, ge=0, description="per-token KL penalty coefficient (initial, if adaptive)")
    kl_target: float | None = Field(None, gt=0, description="adaptive KL: target KL per answer (null: fixed)")
    kl_horizon: int = Field(10000, ge=1, description="adaptive KL horizon, in answers")
    gamma: float = Field(1.0, ge=0, le=1, description="discount")
    lam: float = Field(0.95, ge=0, le=1, description="GAE lambda")
    clip_range: float = Field(0.2, gt=0, description="policy ratio clipping")
    clip_range_value: float = Field(0.2, gt=0, description="value clipping")
    vf_coef: float = Field(0.1, ge=0, description="value loss weight")
    whiten_advantages: bool = Field(True, description="normalise advantages per rollout batch (of each process)")
    max_grad_norm: float = Field(1.0, gt=0, description="gradient clipping")
    constrained: bool = Field(
        False, description="sample only the label answers (the constrained decoder's prefix tree over their "
                           "tokens); the rollout log-probabilities, PPO ratios and KL are those of the policy "
                           "restricted to them (renormalised over the allowed tokens at each step), so sampler "
                           "and optimised policy agree. Needs max_completion_length >= the longest answer")
    shared_prefix: bool | None = Field(
        None, description="score and update each rollout batch with the prompt tokens all its prompts start with "
                          "(chat template, instructions, label list) encoded once: the same log-probabilities, "
                          "values and gradients. null or true: on; false: off")
    difficulty_band: DifficultyBand | None = Field(
        None, description="{low, high}: before the stage, score the training split with the starting policy "
                          "(perplexity decoding) and keep only the examples whose gold-answer probability lies "
                          "in [low, high], the ones it is unsure or wrong about (high defaults to 0.9); the "
                          "summary records band_kept of band_of. null: every example")

    @model_validator(mode="after")
    def _mini_batches(self) -> PPOConfig:
        if self.best_metric is not None:
            raise ValueError("ppo cannot choose on validation yet (best_metric, patience): its checkpoints hold the "
                             "value head beside the policy, which transformers' best-model loading does not restore; "
                             "choose with an sft, label-pg, grpo or gta stage")
        if self.batch_size % self.mini_batch_size:
            raise ValueError(f"batch_size ({self.batch_size}) must be a multiple of mini_batch_size "
                             f"({self.mini_batch_size})")
        return self
