"""Label sets (multi-label data): the answer a model is trained to give for a set, reading a set back from a
generated answer, and the probability threshold that turns per-label probabilities into a set."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

NONE_ANSWER = "none"  # the answer for the empty set
JOIN = ", "


def render_set(labels: Sequence[str], verbalize: Callable[[str], str], order: Sequence[str],
               rng: random.Random | None = None) -> str:
    """The answer for a label set: its labels' answers joined by ``", "``, in ``order`` (the dataset's label
    order), or shuffled by ``rng`` (training draws a fresh order per example, so no label is learned to come
    first); ``none`` for the empty set."""
    if not labels:
        return NONE_ANSWER
    ordered = sorted(labels, key=list(order).index)
    if rng is not None:
        rng.shuffle(ordered)
    return JOIN.join(verbalize(label) for label in ordered)


def parse_set(text: str, answers: Mapping[str, str]) -> tuple[list[str] | None, Literal["ok", "no_label"]]:
    """The label set named by a generated ``text`` (``answers``: class -> its answer) and a status: ``ok``, or
    ``no_label`` when a piece of it names no class (the set is then None). Pieces are separated by commas,
    semicolons, ``|`` or new lines; case and surrounding spaces and full stops are ignored; a class named twice
    counts once; ``none`` (or nothing) is the empty set."""
    by_answer = {_norm(answer): label for label, answer in answers.items()}
    pieces = [_norm(p) for p in re.split(r"[,;|\n]", text)]
    pieces = [p for p in pieces if p]
    if not pieces or pieces == [NONE_ANSWER]:
        return [], "ok"
    found: list[str] = []
    for piece in pieces:
        label = by_answer.get(piece)
        if label is None:
            return None, "no_label"
        if label not in found:
            found.append(label)
    return [label for label in answers if label in found], "ok"


def _norm(text: str) -> str:
    return " ".join(text.strip().strip(".").lower().split())


def decide(probs: Mapping[str, float], threshold: float | Mapping[str, float]) -> list[str]:
    """The labels whose probability reaches the threshold (one for every label, or one per label), in the
    order of ``probs``."""
    cut = (lambda c: threshold[c]) if isinstance(threshold, Mapping) else (lambda c: threshold)
    return [c for c, p in probs.items() if p >= cut(c)]


def choose_threshold(gold: Sequence[Sequence[str]], probs: Sequence[Mapping[str, float]], labels: Sequence[str],
                     per_label: bool = False) -> float | dict[str, float]:
    """The threshold with the best micro-F1 of the decided sets against ``gold`` (ties: the highest); with
    ``per_label``, each label's own threshold with its best F1 (ties: the highest; 0.5 for a label never seen
    in ``gold``). Candidates are the probabilities themselves (thresholds between them decide alike)."""
    if per_label:
        return {c: _best_cut([c in g for g in gold], [p[c] for p in probs], 0.5) for c in labels}
    truth = [c in g for g, p in zip(gold, probs) for c in labels]
    return _best_cut(truth, [p[c] for p in probs for c in labels], 1 / max(len(labels), 1))


def _best_cut(truth: list[bool], scores: list[float], fallback: float) -> float:
    """The threshold on ``scores`` with the best F1 for ``truth`` (ties: the highest); ``fallback`` without a
    positive."""
    positives = sum(truth)
    if not positives:
        return fallback
    ranked = sorted(zip(scores, truth), key=lambda x: -x[0])
    best, best_f1, hits = fallback, -1.0, 0
    for k, (score, positive) in enumerate(ranked, 1):
        hits += positive
        if k < len(ranked) and ranked[k][0] == score:
            continue  # a threshold takes every tied score at once
        f1 = 2 * hits / (k + positives)
        if f1 > best_f1:
            best, best_f1 = score, f1
    return float(best)


def indicator(sets: Sequence[Sequence[Any] | None], labels: Sequence[Any]) -> Any:
    """The 0/1 matrix (examples x labels) of ``sets`` over ``labels`` (scikit-learn's MultiLabelBinarizer in
    ``labels``' order; a None set: no label)."""
    from sklearn.preprocessing import MultiLabelBinarizer

    return MultiLabelBinarizer(classes=list(labels)).fit_transform([list(s or []) for s in sets])
