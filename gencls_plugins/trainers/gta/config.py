"""Options of the Guess-Think-Answer stage: GRPO's, plus the guess cross-entropy and the conflict rule."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gencls_plugins.trainers.grpo.config import GroupOptions


class GTAConfig(GroupOptions):
    max_steps: int = Field(50, description="stop after this many optimiser steps (-1: run the epochs)")
    num_generations: int = Field(4, ge=2, description="answers sampled per prompt (the group)")
    max_completion_length: int = Field(64, ge=1, description="most tokens generated per answer")
    logging_steps: int = Field(1, ge=1, description="log every this many steps")
    sft_weight: float = Field(1.0, ge=0, description="lambda_1, weight of the guess cross-entropy")
    rl_weight: float = Field(1.0, ge=0, description="lambda_2, weight of the GRPO loss")
    format_weight: float = Field(0.5, ge=0, description="weight of the guess-think-answer format reward, "
                                                        "added to the run's rewards")
    conflict: Literal["none", "rl-only", "project"] = Field(
        "rl-only", description="when the SFT and RL gradients of a batch have negative cosine: keep only the RL "
                               "gradient, project the SFT one off it, or nothing (with several processes each "
                               "applies it to its own gradients before they are averaged)")
