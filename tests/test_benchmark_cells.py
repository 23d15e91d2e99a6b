"""benchmarks/cells.py: the bag-of-words baseline at the LM's reading budget reads exactly what the prompts keep."""

import importlib.util
import sys
from pathlib import Path

import datasets
import pytest

from gencls_core.interfaces import LabeledData

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("cells", ROOT / "benchmarks" / "cells.py")
cells = importlib.util.module_from_spec(spec)
sys.modules.setdefault("cells", cells)
spec.loader.exec_module(cells)


class Cutting:
    """An engine whose prompts keep the first ``n`` characters of a text, between instructions and an answer cue."""

    def __init__(self, n):
        self.n = n

    def render_prompts(self, texts):
        return [f"<|im_start|>user\nClassify: {t[:self.n]}<|im_end|>\n<|im_start|>assistant\n" for t in texts]


def _data(texts):
    split = datasets.Dataset.from_dict({"text": texts, "label": ["a"] * len(texts)})
    return LabeledData(splits={"train": split, "test": split}, labels=["a", "b"])


def test_each_text_is_cut_to_what_its_prompt_keeps():
    texts = ["a long article about the markets and what they did today", "short", "x" * 80]
    kept = cells.kept_texts(Cutting(40), _data(texts))
    for split in ("train", "test"):
        assert kept.splits[split]["text"] == [t[:40] for t in texts]
        assert kept.splits[split]["label"] == ["a"] * 3


def test_a_prompt_without_the_text_is_an_error():
    class Rewriting(Cutting):
        def render_prompts(self, texts):
            return [t.upper() for t in texts]

    with pytest.raises(ValueError, match="does not hold the text's beginning"):
        cells.kept_texts(Rewriting(40), _data(["lower case text"]))
