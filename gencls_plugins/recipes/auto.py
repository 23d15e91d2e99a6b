"""``auto``: SFT that chooses its own length on the validation split, then an RL stage kept only when it beats
the SFT model there beyond noise.

Why this shape (docs/benchmarks.md): one SFT epoch at the default rate is under-trained (+1.1 points on
Rotten Tomatoes and +8.3 on BBC News from a second epoch), so SFT runs up to ``sft_epochs`` at the rate the study
chose on validation and keeps its best checkpoint by macro-F1; no trained model predicted the rare class of
drug reviews, so imbalanced data gets balanced class weights; RL after SFT paid on one corpus of three (BBC
+2.2, Rotten Tomatoes -1.7), so the RL stage is tried and kept only when the paired bootstrap interval of its
validation macro-F1 gain lies above zero. Class weights overshoot on drug reviews (a weighted model named the rare
class on validation three times as often as it occurs), so the perplexity decoder then gets per-label offsets that make
the kept model's validation predictions follow the training label distribution, used only when that raises
validation accuracy plus macro-F1 (the two numbers a report leads with; macro-F1 alone rewards over-predicting a
rare class) with offsets fitted on the other half of the split (two-fold cross-fitting). Last, TF-IDF + logistic
regression's label probabilities are blended into the kept model's scores at a weight chosen the same way: a
prompt keeps 131 tokens of a BBC article while the bag of words reads all of it; applied to three finished runs
this rule chose a weight on two, adding +1.0 [+0.0, +2.0] (BBC, 384-token prompts) and +5.8 [+3.0, +8.8] (TREC-50)
points of test accuracy, and kept the model alone on the third (docs/decisions.md).

On multi-label data the same shape chooses by the set metric (``f1_macro`` over labels, or ``f1_micro``), each
model at the label threshold chosen for it on validation: no class weights (they weigh one class per text), the
label-pg stage with the set reward and an entropy bonus (0.2, what kept the mass on every gold label in the
tests), no offsets (the threshold decides the sets).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import Any, Literal

from pydantic import Field

from gencls_core.calibration import prior_offsets, remove
from gencls_core.errors import ConfigError
from gencls_core.interfaces import LabeledData, Options, Recipe, Validation
from gencls_core.label_sets import indicator
from gencls_core.lexical import blend

WEIGHTS = tuple(i / 10 for i in range(10))  # the bag of words' weights tried: 0 to 0.9


class Auto(Recipe):
    """SFT chosen on validation (early stopping, class weights on imbalanced data), then label-pg kept only if it
    beats the SFT model on the validation split beyond noise; then decoder offsets toward the training label
    distribution, and a weight for TF-IDF + logistic regression's evidence, each when it raises the cross-fitted
    validation accuracy plus macro-F1."""

    name = "auto"

    class Config(Options):
        metric: Literal["f1_macro", "accuracy", "f1_micro"] = Field(
            "f1_macro", description="the validation metric every choice is made on (multi-label data: f1_macro "
                                    "over labels or f1_micro; single-label data: f1_macro or accuracy)")
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
        calibrate: bool = Field(True, description="fit per-label decoder offsets on the validation split so the "
                                                  "predicted labels follow the training label distribution, used "
                                                  "when that raises the cross-fitted validation accuracy plus "
                                                  "macro-F1")
        lexical: bool = Field(True, description="blend TF-IDF + logistic regression's label probabilities into "
                                                "the kept model's scores at the weight (0 to 0.9) best on the "
                                                "validation split, used when the weight chosen on each half raises "
                                                "the other half's accuracy plus macro-F1")

    def stages(self, data: LabeledData) -> list[dict[str, Any]]:
        c = self.config
        allowed = ("f1_macro", "f1_micro") if data.multi_label else ("f1_macro", "accuracy")
        if c.metric not in allowed:
            kind = "multi-label data" if data.multi_label else "data with one label per text"
            raise ConfigError(f"recipe 'auto': metric {c.metric!r} is not defined for {kind}; use one of {allowed}")
        weights = None
        if not data.multi_label:
            counts = Counter(data.splits["train"]["label"])
            weights = "balanced" if max(counts.values()) > c.imbalance * min(counts.values()) else None
        every = max(1, math.ceil(len(data.splits["train"]) / c.batch_size) // c.evaluations_per_epoch)
        common = {"batch_size": c.batch_size, "best_metric": c.metric, "patience": c.patience, "eval_steps": every,
                  "save_steps": every, "class_weights": weights, "logging_steps": every}
        stages = [{"name": "sft", "epochs": c.sft_epochs, "learning_rate": c.sft_learning_rate, **common}]
        if c.rl == "label-pg":
            stages.append({"name": "label-pg", "epochs": c.rl_epochs, "learning_rate": c.rl_learning_rate,
                           "beta": 0.05, **({"entropy_coef": 0.2} if data.multi_label else {}), **common})
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

    def decoder(self, decoder: str, kept: Validation, data: LabeledData) -> tuple[dict[str, Any], str]:
        if not self.config.calibrate:
            return {}, "no calibration (calibrate: false)"
        if kept.multi_label:
            return {}, "label sets are decided by the threshold chosen on validation, so no per-label offsets"
        if decoder != "perplexity" or kept.scores is None:
            return {}, f"the {decoder} decoder gives no label scores to calibrate"
        if len(kept.gold) < 20:
            return {}, f"{len(kept.gold)} validation examples are too few to fit and check per-label offsets on"
        classes = list(kept.scores[0])
        counts = Counter(data.splits["train"]["label"])
        if not all(counts[c] for c in classes):
            return {}, f"no training examples of {[c for c in classes if not counts[c]]}, so no target to calibrate to"
        target = [counts[c] / sum(counts[k] for k in classes) for c in classes]
        rows = [[s[c] for c in classes] for s in kept.scores]

        def label(bias: list[float], i: int) -> str:
            row = remove([rows[i]], bias)[0]
            return classes[row.index(max(row))]

        after = _cross_fitted(kept, lambda part: prior_offsets([rows[i] for i in part], target), label)
        rises, said = _compared(kept, after, self.config.level)
        said = "with per-label offsets fitted on the other half of the validation split, " + said
        if not rises:
            return {}, said + "; accuracy plus macro-F1 does not rise, so the decoder is used as configured"
        bias = prior_offsets(rows, target)
        return ({"bias": {c: round(b, 6) for c, b in zip(classes, bias)}},
                said + "; the offsets fitted on the whole validation split are used")

    def lexical(self, kept: Validation, bag: list[dict[str, float]]) -> tuple[float, str]:
        if not self.config.lexical:
            return 0.0, "no lexical evidence (lexical: false)"
        if kept.scores is None or len(kept.gold) < 20:
            return 0.0, f"{len(kept.gold)} validation examples are too few to choose a weight on"
        classes = list(kept.scores[0])
        model = [[s[c] for c in classes] for s in kept.scores]
        words = [[b[c] for c in classes] for b in bag]

        def label(weight: float, i: int) -> str:
            row = blend([model[i]], [words[i]], weight)[0]  # the blend the engine decodes with
            return classes[row.index(max(row))]

        def choose(part: list[int]) -> float:
            def value(weight: float) -> float:
                v = Validation([kept.gold[i] for i in part], [label(weight, i) for i in part], kept.labels)
                return _score(v, "accuracy") + _score(v, "f1_macro")
            return max(WEIGHTS, key=lambda w: (round(value(w), 9), -w))

        rises, said = _compared(kept, _cross_fitted(kept, choose, label), self.config.level)
        said = "with the weight chosen on the other half of the validation split, " + said
        if not rises:
            return 0.0, said + "; accuracy plus macro-F1 does not rise, so the decoder's scores are used alone"
        weight = choose(list(range(len(kept.gold))))
        return weight, said + f"; the weight chosen on the whole validation split ({weight}) is used"


def _cross_fitted(kept: Validation, fit: Callable[[list[int]], Any], label: Callable[[Any, int], str]) -> Validation:
    """``kept`` predicted again in two folds (even and odd positions): each example by what ``fit`` chose on the
    other fold."""
    halves = (list(range(0, len(kept.gold), 2)), list(range(1, len(kept.gold), 2)))
    predicted: list[str | None] = list(kept.predicted)
    for part, other in (halves, halves[::-1]):
        chosen = fit(other)
        for i in part:
            predicted[i] = label(chosen, i)
    return Validation(kept.gold, predicted, kept.labels)


def _compared(kept: Validation, after: Validation, level: float) -> tuple[bool, str]:
    """Whether ``after`` raises ``kept``'s validation accuracy plus macro-F1, and the two gains with their paired
    intervals in words."""
    gains = {m: _paired_gain(kept, after, m, level) for m in ("accuracy", "f1_macro")}
    said = ", ".join(f"{m} {_score(after, m):.4f} against {_score(kept, m):.4f} without ({g:+.4f}, {level:.0%} "
                     f"interval [{low:+.4f}, {high:+.4f}])" for m, (g, low, high) in gains.items())
    return sum(g for g, _, _ in gains.values()) > 0, said


def _codes(v: Validation) -> tuple[Any, Any]:
    import numpy as np

    index = {label: i for i, label in enumerate(v.labels)}
    return np.array([index[g] for g in v.gold]), np.array([index.get(p, -1) for p in v.predicted])


def _sets(v: Validation) -> tuple[Any, Any]:
    """Gold and predicted label sets as examples x labels 0/1 matrices (an unreadable set: no label)."""
    return indicator(v.gold, v.labels), indicator(v.predicted, v.labels)


def _score(v: Validation, metric: str) -> float:
    from gencls_core.stats import macro_f1, set_f1

    if v.multi_label:
        gold, predicted = _sets(v)
        return float(set_f1(gold[None], predicted[None], metric.removeprefix("f1_"))[0])
    gold, predicted = _codes(v)
    return float((gold == predicted).mean() if metric == "accuracy" else macro_f1(gold, predicted, len(v.labels)))


def _paired_gain(before: Validation, after: Validation, metric: str, level: float) -> tuple[float, float, float]:
    """``after`` minus ``before`` in ``metric`` on the same validation examples, with its paired bootstrap
    interval."""
    from gencls_core.stats import paired_gain, paired_set_gain

    if before.multi_label:
        gold, old = _sets(before)
        return paired_set_gain(gold, old, _sets(after)[1], metric.removeprefix("f1_"), level)
    gold, old = _codes(before)
    return paired_gain(gold, old, _codes(after)[1], len(before.labels), metric, level)
