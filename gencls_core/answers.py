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
