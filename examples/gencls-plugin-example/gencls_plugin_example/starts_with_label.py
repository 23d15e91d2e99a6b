"""A reward in TRL's contract: +1 when the completion starts with the gold label, else 0."""

from __future__ import annotations

from pydantic import Field

from gencls_core import Options, RewardFunc
from gencls_core.rewards import completion_text  # strings, or chat messages whose last one is the answer


class StartsWithLabel(RewardFunc):
    """+1 when the answer starts with the gold label (case-insensitive), ``miss`` otherwise."""

    name = "starts-with-label"

    class Config(Options):
        miss: float = Field(0.0, description="reward for an answer that does not start with the gold label")

    def __call__(self, prompts, completions, label, **kwargs):
        return [1.0 if completion_text(c).strip().lower().startswith(gold.lower()) else self.config.miss
                for c, gold in zip(completions, label)]
