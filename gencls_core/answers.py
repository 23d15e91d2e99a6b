"""Label answers as token sequences, exactly as the chat template would end an assistant turn."""

from __future__ import annotations

from typing import Any

from gencls_core.chat import answer_suffix
from gencls_core.interfaces import LabelScheme


def answer_token_ids(tokenizer: Any, labels: LabelScheme, end_of_answer: bool) -> list[list[int]]:
    """Per class (in ``labels.labels`` order): the tokens of its answer, plus the end-of-turn marker if asked."""
    suffix = answer_suffix(tokenizer) if end_of_answer else ""
    return [tokenizer(labels.verbalize(c) + suffix, add_special_tokens=False)["input_ids"] for c in labels.labels]


class PrefixTree:
    """The set of allowed token sequences; ``allowed(prefix)`` lists the tokens that may come next."""

    def __init__(self, sequences: list[list[int]], end_ids: list[int]) -> None:
        self.root: dict[int, dict] = {}
        self.end_ids = end_ids
        for seq in sequences:
            node = self.root
            for tok in seq:
                node = node.setdefault(tok, {})

    def allowed(self, prefix: list[int]) -> list[int]:
        node = self.root
        for tok in prefix:
            if tok not in node:
                return self.end_ids  # past a complete answer: only end tokens (generation stops)
            node = node[tok]
        return list(node) or self.end_ids


class SetTree:
    """The token sequences of a label-set answer: ``none``, or distinct labels joined by ``", "``, each followed
    by the end-of-turn marker; ``allowed(prefix)`` lists the tokens that may come next (``end_ids`` once an
    answer is complete). Raises ConfigError when the tokenizer does not write a joined set as its pieces."""

    def __init__(self, tokenizer: Any, labels: LabelScheme, end_ids: list[int]) -> None:
        from gencls_core.errors import ConfigError
        from gencls_core.label_sets import JOIN, NONE_ANSWER

        def ids(text: str) -> list[int]:
            return tokenizer(text, add_special_tokens=False)["input_ids"]

        answers = {c: labels.verbalize(c) for c in labels.labels}
        self.first = {c: ids(a) for c, a in answers.items()}
        self.rest = {c: ids(JOIN + a) for c, a in answers.items()}
        self.none, self.end_ids = ids(NONE_ANSWER), end_ids
        self.end = ids(answer_suffix(tokenizer)) or end_ids[:1]  # no end-of-turn marker: the end token itself
        for a, b in ((a, b) for a in answers for b in answers if a != b):
            if ids(answers[a] + JOIN + answers[b]) != self.first[a] + self.rest[b]:
                raise ConfigError(f"constrained generation of label sets: the tokenizer writes "
                                  f"{answers[a] + JOIN + answers[b]!r} with other tokens than its labels' own; "
                                  f"decode multi-label data with decoder=perplexity or constrained=false")

    def allowed(self, prefix: list[int]) -> list[int]:
        return sorted(self._next(prefix, frozenset(), "start")) or self.end_ids

    def longest(self) -> int:
        """Tokens of the longest answer: every label, then the end-of-turn marker."""
        return max(map(len, self.first.values()), default=0) + sum(map(len, self.rest.values())) + len(self.end)

    def _next(self, rest: list[int], used: frozenset[str], state: str) -> set[int]:
        """Next tokens after ``rest`` from ``state`` (``start``, after an ``item``, after ``none``)."""
        if state == "start":
            options = [("", self.none), *self.first.items()]
        else:
            options = [("", self.end), *(((c, s) for c, s in self.rest.items() if c not in used)
                                          if state == "item" else ())]
        out: set[int] = set()
        for label, seq in options:
            if len(rest) < len(seq):
                if seq[:len(rest)] == rest:
                    out.add(seq[len(rest)])
            elif rest[:len(seq)] == seq and seq is not self.end:
                out |= self._next(rest[len(seq):], used | {label}, "item" if label else "none")
        return out
