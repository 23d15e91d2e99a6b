"""The label reward of GenCLS++ and of PPO-for-NLU: right, wrong, or no single label."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from gencls_core.errors import ContractError
from gencls_core.interfaces import Options, RewardFunc
from gencls_core.rewards import completion_text


class LabelMatch(RewardFunc):
    """Reward naming exactly the gold label; penalise a wrong label, and more an answer with none or several.

    ``correct`` / ``wrong`` / ``invalid`` (no label or several: hedging with "A or B" never pays);
    ``class_weights`` scale an example's reward by its gold class (e.g. inverse frequency, for macro-F1).
    """

    name = "label-match"

    class Config(Options):
        correct: float = Field(1.0, description="reward for naming exactly the gold label")
        wrong: float = Field(-1.0, description="reward for naming one other label")
        invalid: float = Field(-3.0, description="reward when the answer names no label or several")
        class_weights: dict[str, float] | None = Field(
            None, description="gold class -> factor on the reward of its examples (classes left out: 1)")

        @model_validator(mode="after")
        def _ordered(self) -> LabelMatch.Config:
            if not self.invalid <= self.wrong < self.correct:
                raise ValueError(f"need invalid <= wrong < correct, got invalid={self.invalid}, "
                                 f"wrong={self.wrong}, correct={self.correct}")
            if any(w <= 0 for w in (self.class_weights or {}).values()):
                raise ValueError(f"class_weights must be positive, got {self.class_weights}")
            return self

    def setup(self, labels) -> None:
        unknown = sorted(set(self.config.class_weights or {}) - set(labels.labels))
        if unknown:
            raise ContractError(f"reward 'label-match': class_weights name {unknown}, not among the classes "
                                f"{labels.labels}")
        super().setup(labels)

    def __call__(self, prompts: list[Any], completions: list[Any], label: list[str],
                 **kwargs: Any) -> list[float | None]:
        scheme = getattr(self, "label_scheme", None)
        if scheme is None:
            raise ContractError("reward 'label-match' needs a label scheme: call setup(labels) first")
        unknown = sorted(set(label) - set(scheme.labels))
        if unknown:
            raise ContractError(f"reward 'label-match' got gold label(s) {unknown} outside the classes {scheme.labels}")
        cfg = self.config
        weights = cfg.class_weights or {}
        rewards: list[float | None] = []
        for completion, gold in zip(completions, label):
            found = scheme.find(completion_text(completion))
            reward = cfg.correct if found == [gold] else cfg.wrong if len(found) == 1 else cfg.invalid
            rewards.append(reward * weights.get(gold, 1.0))
        return rewards
