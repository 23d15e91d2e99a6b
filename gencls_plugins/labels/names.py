"""Classes answered by their natural names, optionally shown under display names."""

from __future__ import annotations

import re

from pydantic import Field

from gencls_core.errors import ConfigError
from gencls_core.interfaces import LabelScheme, Options

# "... Answer: X", "<answer>X</answer>": the final answer after any reasoning
_ANSWER_TAG = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.IGNORECASE | re.DOTALL)
_ANSWER_MARK = re.compile(r"(?:final answer|answer)\s*(?:is)?\s*[:=]", re.IGNORECASE)


def normalize(text: str) -> str:
    """Lower case, single spaces, no surrounding punctuation or quotes."""
    return re.sub(r"\s+", " ", text.lower()).strip().strip(".,;:!?\"'`*()[]{}<> ")


def final_answer(output: str) -> str:
    """The part of a think-then-answer output that holds the answer (the whole output otherwise)."""
    tags = _ANSWER_TAG.findall(output)
    if tags:
        return tags[-1]
    marks = list(_ANSWER_MARK.finditer(output))
    return output[marks[-1].end():] if marks else output


class NameLabels(LabelScheme):
    """Each class is answered by its name (or its display name); parsing accepts exactly one of them."""

    name = "names"

    class Config(Options):
        display: dict[str, str] = Field(default_factory=dict,
                                        description="class name -> answer text, e.g. {sports: sport}")

    def setup(self, labels: list[str]) -> None:
        super().setup(labels)
        unknown = sorted(set(self.config.display) - set(labels))
        if unknown:
            raise ConfigError(f"labels.display names unknown class(es) {unknown}; classes: {labels}")
        texts = [normalize(self.verbalize(x)) for x in labels]
        clashes: dict[str, list[str]] = {}
        for label, text in zip(labels, texts):
            clashes.setdefault(text, []).append(label)
        bad = [group for text, group in clashes.items() if len(group) > 1 or not text]
        if bad:
            which = "; ".join(" and ".join(repr(self.verbalize(x)) for x in g) for g in bad)
            fix = ("change labels.display" if self.config.display else
                   "rename one in the data, or give them distinct answer texts with labels.display")
            raise ConfigError(f"answers cannot tell classes apart: {which} read the same (or nothing) once case, "
                              f"spaces and punctuation are ignored; {fix}")
        self._by_text = dict(zip(texts, labels))

    def verbalize(self, label: str) -> str:
        return self.config.display.get(label, label)

    def find(self, output: str) -> list[str]:
        text = normalize(final_answer(output))
        if text in self._by_text:
            return [self._by_text[text]]
        return [label for t, label in self._by_text.items() if re.search(rf"(?<!\w){re.escape(t)}(?!\w)", text)]
