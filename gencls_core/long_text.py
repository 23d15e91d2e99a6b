"""Texts longer than the prompt budget, read whole or by their most informative sentences.

``long_text.policy: chunks`` splits the text into overlapping token windows that each fit the prompt; every window
is decoded like a text of its own, and the windows' per-label probabilities are aggregated into the text's
prediction. ``select`` keeps the sentences with the rarest words (mean inverse document frequency over the
training texts) that fit the budget, in their original order, and decodes that one piece."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from gencls_core.errors import ConfigError
from gencls_core.interfaces import Prediction

if TYPE_CHECKING:
    from gencls_core.config import LongTextConfig

SAFETY_TOKENS = 8  # a window decoded on its own may tokenize a little longer at its edges
SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


class LongTexts:
    """How a run reads a text: as it is (the truncation policy cuts it if it must), or, when its tokens are over
    ``size``, as windows (``chunks``) or as its selected sentences (``select``; ``train_texts`` weigh the words)."""

    def __init__(self, cfg: LongTextConfig, tokenizer: Any, size: int | None, train_texts: list[str] | None = None):
        self.cfg, self.tokenizer, self.size = cfg, tokenizer, size
        self.idf: dict[str, float] = {}  # select: each training word's inverse document frequency
        if cfg.policy == "select" and size is not None:
            if not train_texts:
                raise ConfigError("long_text.policy select weighs words by the training texts, and this run has "
                                  "none: give the dataset a train split, or use long_text.policy chunks")
            from sklearn.feature_extraction.text import TfidfVectorizer

            vectorizer = TfidfVectorizer().fit(train_texts)
            self.idf = dict(zip(vectorizer.get_feature_names_out(), vectorizer.idf_))
            self.unseen = float(max(vectorizer.idf_))  # a word no training text has is as rare as the rarest
            self.words = vectorizer.build_analyzer()

    def pieces(self, text: str) -> tuple[list[str], bool]:
        """What is decoded for ``text`` (one piece, or its windows), and whether there were more windows than
        ``max_windows``."""
        if self.size is None or self.cfg.policy == "truncate":
            return [text], False
        if self.cfg.policy == "chunks":
            return split_windows(self.tokenizer, text, self.size, self.cfg.overlap_tokens, self.cfg.max_windows)
        return [self._select(text, self.size)], False

    def _select(self, text: str, size: int) -> str:
        """The sentences of ``text`` with the highest mean word rarity that fit ``size`` tokens, in order."""
        if len(self.tokenizer(text, add_special_tokens=False)["input_ids"]) <= size:
            return text
        sentences = [s for s in SENTENCE_END.split(text) if s.strip()]

        def rarity(sentence: str) -> float:
            words = self.words(sentence)
            return sum(self.idf.get(w, self.unseen) for w in words) / len(words) if words else 0.0

        lengths = [len(self.tokenizer(s, add_special_tokens=False)["input_ids"]) + 1 for s in sentences]
        kept, used = set(), 0
        for i in sorted(range(len(sentences)), key=lambda i: -rarity(sentences[i])):
            if used + lengths[i] <= size:
                kept.add(i)
                used += lengths[i]
        return " ".join(sentences[i] for i in sorted(kept)) or text  # no sentence fits: the truncation policy cuts


def split_windows(tokenizer: Any, text: str, size: int, overlap: int, most: int) -> tuple[list[str], bool]:
    """``text`` as windows of ``size`` tokens, each sharing ``overlap`` with the one before (one window when it
    fits); at most ``most`` windows, spread evenly from the first to the last (and then True)."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if len(ids) <= size:
        return [text], False
    step = size - overlap
    starts = list(range(0, len(ids) - overlap, step))
    starts[-1] = min(starts[-1], len(ids) - size)  # the last window ends with the text
    capped = len(starts) > most
    if capped:
        starts = [starts[round(i * (len(starts) - 1) / (most - 1))] for i in range(most)] if most > 1 else starts[:1]
    return [tokenizer.decode(ids[s:s + size]).strip() or "." for s in starts], capped


def reader(cfg: LongTextConfig | None, tokenizer: Any, limit: int | None, overhead: Callable[[], int],
           train: Any = None) -> LongTexts:
    """The run's ``LongTexts`` for prompts of at most ``limit`` tokens, ``overhead()`` of them the prompt's own
    (measured only when a policy needs it); ``train`` (the train split, or None) weighs words for ``select``."""
    size = window_size(cfg, limit, overhead()) if cfg is not None and cfg.policy != "truncate" else None
    return LongTexts(cfg or LongTextConfig(), tokenizer, size,
                     list(train["text"]) if train is not None and size is not None else None)


def window_size(cfg: LongTextConfig, limit: int | None, overhead: int) -> int | None:
    """Text tokens per window: ``window_tokens``, or what the prompt limit leaves beside the prompt's own
    ``overhead`` tokens; None without a limit (every text fits)."""
    if limit is None:
        return cfg.window_tokens
    room = limit - overhead - SAFETY_TOKENS
    if room <= cfg.overlap_tokens:
        raise ConfigError(f"long_text: the prompt without its text takes {overhead} of the {limit}-token limit, "
                          f"leaving {room} tokens per window, not more than long_text.overlap_tokens "
                          f"({cfg.overlap_tokens}); raise truncation.max_prompt_tokens or lower the overlap")
    return min(cfg.window_tokens, room) if cfg.window_tokens else room


def aggregate(parts: list[Prediction], labels: list[str], how: str) -> Prediction:
    """One prediction for a text from its windows' ``parts`` (finalized to the classes ``labels``)."""
    if len(parts) == 1:
        return parts[0]
    voted = [p for p in parts if p.label is not None]
    if not voted:  # no window named a class: the text does not either
        return replace(parts[0], windows=len(parts))
    probs: dict[str, float] | None = None
    given = [p.probs for p in parts if p.probs]
    if len(given) == len(parts):
        logp = [[math.log(max(part.get(label, 0.0), 1e-12)) for label in labels] for part in given]
        mean = [sum(column) / len(parts) for column in zip(*logp)]
        probs = dict(zip(labels, _normalized(mean if how != "max" else [max(column) for column in zip(*logp)])))
    elif how != "vote":
        raise ConfigError(f"long_text.aggregate {how} needs label probabilities from the decoder, and this one gives "
                          f"none (free generation): use long_text.aggregate=vote, or the perplexity decoder")
    if how == "vote" or probs is None:  # no probabilities: a vote (any other aggregate was refused above)
        counts = {label: sum(p.label == label for p in voted) for label in labels}
        top = max(counts.values())
        tied = [label for label in labels if counts[label] == top]
        label = max(tied, key=lambda lab: probs[lab]) if probs else tied[0]  # the order of the windows is no tie-break
    else:
        label = max(labels, key=lambda lab: probs[lab])
    outputs = [p.output for p in parts if p.output]
    return Prediction(label, probs=probs, output="\n".join(outputs) if outputs else None, windows=len(parts))


def _normalized(logits: list[float]) -> list[float]:
    top = max(logits)
    weights = [math.exp(v - top) for v in logits]
    return [w / sum(weights) for w in weights]
