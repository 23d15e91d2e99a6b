"""Semantically irrelevant numeric labels (GenCLS++): classes shown as numbers, mapped back for metrics."""

from __future__ import annotations

import random
import re

from pydantic import Field

from gencls_core.errors import ConfigError
from gencls_core.interfaces import LabelScheme, Options
from gencls_plugins.labels.names import final_answer

_NUMBER = re.compile(r"(?<![\d.])\d+(?!\d|\.\d)")


class NumericLabels(LabelScheme):
    """Each class is answered by a number (1..K in class order, or a seeded shuffle of them)."""

    name = "numeric"

    class Config(Options):
        start: int = Field(1, description="the first number")
        shuffle: bool = Field(False, description="assign the numbers to classes in a seeded random order")
        seed: int = Field(0, description="seed of the shuffle")

    def setup(self, labels: list[str]) -> None:
        if len(labels) < 2:
            raise ConfigError(f"label scheme 'numeric' needs at least two classes, got {labels}")
        super().setup(labels)
        numbers = list(range(self.config.start, self.config.start + len(labels)))
        if self.config.shuffle:
            random.Random(self.config.seed).shuffle(numbers)
        self.numbers = dict(zip(labels, numbers))
        self._by_number = {n: label for label, n in self.numbers.items()}

    def verbalize(self, label: str) -> str:
        return str(self.numbers[label])

    def find(self, output: str) -> list[str]:
        found = {self._by_number.get(int(n)) for n in _NUMBER.findall(final_answer(output))}
        return [label for label in self.labels if label in found]
