"""``auto``: SFT that chooses its own length on the validation split, then an RL stage kept only when it beats
the SFT model there beyond noise.

Why this shape (docs/benchmarks.md): one SFT epoch at the default rate is under-trained (+1.1 points on
Rotten Tomatoes and +8.3 on BBC News from a second epoch), so SFT runs up to ``sft_epochs`` at the rate the study
chose on validation and keeps its best checkpoint by macro-F1; no trained model predicted the rare class of
drug reviews, so imbalanced data gets balanced class weights; RL after SFT paid on one corpus of three (BBC
+2.2, Rotten Tomatoes -1.7), so the RL stage is tried and kept only when the paired bootstrap interval of its
validation macro-F1 gain lies above zero.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Literal

from pydantic import Field

from gencls_core.interfaces import LabeledData, Options, Recipe, Validation


class Auto(Recipe):
    """SFT chosen on validation (early stopping, class weights on imbalanced data), then label-pg kept only if it
    beats the SFT model on the validation split beyond noise."""

    name = "auto"

    class Config(Options):
        metric: Literal["f1_macro", "accuracy"] = Field("f1_macro", description="the validation metric every "
                                                                                "choice is made on")
        sft_epochs: float = Field(3.0, gt=0, description="most SFT epochs (it stops earlier after patience)")
        sft_learning_rate: float = Field(1e-3, gt=0, description="SFT learning rate (the study's, chosen on "
                                                                 "validation)")
        rl: Literal["label-pg", "none"] = Field("label-pg", description="the RL stage tried after SFT")
        rl_learning_rate: float = Field(5e-5, gt=0, description="label-pg learning rate")
        rl_epochs: float = Field(1.0, gt=0, description="most label-pg epochs")
        batch_size: int = Field(8, ge=1, description="examples per step of every stage")
        evaluations_per_epoch: int = Field(4, ge=1, description="validation evaluations per epoch")
        patience: int = Field(3, ge=1, description="evaluations without a better metric before a stage stops")
        imbalance: float = Field(1.5, ge=1, description="balanced class weights when the largest class has more "
                                                        "than this many times the examples of the smallest")
        level: float = Field(0.95, gt=0, lt=1, description="confidence level of the RL stage's required gain")

    def stages(self, data: LabeledData) -> list[dict[str, Any]]:
        c = self.config
        counts = Counter(data.splits["train"]["label"])
        weights = "balanced" if max(counts.values()) > c.imbalance * min(counts.values()) else None
        every = max(1, math.ceil(len(data.splits["train"]) / c.batch_size) // c.evaluations_per_epoch)
        common = {"batch_size": c.batch_size, "best_metric": c.metric, "patience": c.patience, "eval_steps": every,
                  "save_steps": every, "class_weights": weights, "logging_steps": every}
        stages = [{"name": "sft", "epochs": c.sft_epochs, "learning_rate": c.sft_learning_rate, **common}]
        if c.rl == "label-pg":
            stages.append({"name": "label-pg", "epochs": c.rl_epochs, "learning_rate": c.rl_learning_rate,
                           "beta": 0.05, **common})
        return stages

    def keep(self, stage: int, trainer: str, before: Validation, after: Validation) -> tuple[bool, str]:
        gain, low, high = _paired_gain(before, after, self.config.metric, self.config.level)
        old, new = _score(before, self.config.metric), _score(after, self.config.metric)
        said = (f"validation {self.config.metric} {new:.4f} against {old:.4f} for the model before it "
                f"({gain:+.4f}, {self.config.level:.0%} interval [{low:+.4f}, {high:+.4f}], {len(after.gold)} "
                f"examples)")
        if stage == 1:  # the first trained model only has to be no worse than the model it started from
            keep = new >= old
            return keep, said + ("; no worse than the untrained model" if keep else "; worse than the untrained "
                                                                                   "model, which is kept")
        keep = low > 0
        return keep, said + ("; better beyond noise" if keep else "; not better beyond noise, so the model before "
                                                                  "it is kept")


def _codes(v: Validation) -> tuple[Any, Any]:
    import numpy as np

    index = {label: i for i, label in enumerate(v.labels)}
    return np.array([index[g] for g in v.gold]), np.array([index.get(p, -1) for p in v.predicted])


def _score(v: Validation, metric: str) -> float:
    from gencls_core.stats import macro_f1

    gold, predicted = _codes(v)
    return float((gold == predicted).mean() if metric == "accuracy" else macro_f1(gold, predicted, len(v.labels)))


def _paired_gain(before: Validation, after: Validation, metric: str, level: float) -> tuple[float, float, float]:
    """``after`` minus ``before`` in ``metric`` on the same validation examples, with its paired bootstrap
    interval."""
    from gencls_core.stats import paired_gain

    gold, old = _codes(before)
    return paired_gain(gold, old, _codes(after)[1], len(before.labels), metric, level)
