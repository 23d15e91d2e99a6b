"""Classes answered by their natural names, optionally shown under display names."""

from __future__ import annotations

import re

from pydantic import Field

from gencls_core.errors import ConfigError
from gencls_core.interfaces import LabelScheme, Options


def normalize(text: str) -> str:
    """Lower case, single spaces, no surrounding punctuation or quotes."""
    return re.sub(r"\s+", " ", text.lower()).strip().strip(".,;:!?\"'`*()[]{}<> ")


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
        if len(set(texts)) != len(texts) or not all(texts):
            raise ConfigError(f"labels.display: answer texts must be distinct and non-empty, got {texts}")
        self._by_text = dict(zip(texts, labels))

    def verbalize(self, label: str) -> str:
        return self.config.display.get(label, label)

    def parse(self, output: str) -> str | None:
        text = normalize(output)
        if text in self._by_text:
            return self._by_text[text]
        found = {label for t, label in self._by_text.items() if re.search(rf"(?<!\w){re.escape(t)}(?!\w)", text)}
        return found.pop() if len(found) == 1 else None
