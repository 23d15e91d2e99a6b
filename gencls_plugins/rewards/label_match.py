"""The label reward of GenCLS++ and of PPO-for-NLU: right, wrong, or no single label; for a gold label set,
the answer's per-example F1 against it."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from gencls_core.errors import ContractError
from gencls_core.interfaces import Options, RewardFunc
from gencls_core.label_sets import parse_set
from gencls_core.rewards import completion_text


class LabelMatch(RewardFunc):
    """Reward naming exactly the gold label; penalise a wrong label, and more an answer with none or several.

    ``correct`` / ``wrong`` / ``invalid`` (no label or several: hedging with "A or B" never pays);
    ``class_weights`` scale an example's reward by its gold class (e.g. inverse frequency, for macro-F1).
    A gold label *set* (multi-label data: a list) is scored by the answer's set (a list of labels, ``none``
    for the empty set) and its F1 against the gold set: ``wrong + (correct - wrong) * F1``, F1 of two empty sets
    1; ``invalid`` when a piece of the answer names no label.
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

    def __call__(self, prompts: list[Any], completions: list[Any], label: list[str | list[str]],
                 **kwargs: Any) -> list[float | None]:
        scheme = getattr(self, "label_scheme", None)
        if scheme is None:
            raise ContractError("reward 'label-match' needs a label scheme: call setup(labels) first")
        gold_labels = [x for gold in label for x in (gold if isinstance(gold, list) else [gold])]
        unknown = sorted(set(gold_labels) - set(scheme.labels))
        if unknown:
            raise ContractError(f"reward 'label-match' got gold label(s) {unknown} outside the classes {scheme.labels}")
        cfg = self.config
        weights = cfg.class_weights or {}
        if weights and any(isinstance(gold, list) for gold in label):
            raise ContractError("reward 'label-match': class_weights weigh one gold class per text; multi-label "
                                "data has sets (drop class_weights)")
        rewards: list[float | None] = []
        for completion, gold in zip(completions, label):
            if isinstance(gold, list):
                rewards.append(self._set_reward(completion_text(completion), gold))
                continue
            found = scheme.find(completion_text(completion))
            reward = cfg.correct if found == [gold] else cfg.wrong if len(found) == 1 else cfg.invalid
            rewards.append(reward * weights.get(gold, 1.0))
        return rewards

    def _set_reward(self, answer: str, gold: list[str]) -> float:
        cfg = self.config
        found, _ = parse_set(answer, self.label_scheme.answers())
        if found is None:
            return cfg.invalid
        overlap = len(set(found) & set(gold))
        f1 = 1.0 if not found and not gold else 2 * overlap / (len(found) + len(gold))
        return cfg.wrong + (cfg.correct - cfg.wrong) * f1
