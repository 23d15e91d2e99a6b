"""benchmarks/cells.py: the bag-of-words baseline at the LM's reading budget reads exactly what the prompts keep."""

import importlib.util
import sys
from pathlib import Path

from gencls_core import Engine

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("cells", ROOT / "benchmarks" / "cells.py")
cells = importlib.util.module_from_spec(spec)
sys.modules.setdefault("cells", cells)
spec.loader.exec_module(cells)


def test_each_text_is_cut_to_what_its_prompt_keeps(tiny_run_config, tmp_path):
    long = " ".join(["filler"] * 150) + " good"
    path = tmp_path / "late.csv"
    path.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in [(long, "positive"), ("short", "negative")] * 10))
    engine = Engine({**tiny_run_config, "dataset": {"name": "local", "path": str(path)},
                     "truncation": {"max_prompt_tokens": 96}})
    data = engine.dataset()
    kept = cells.kept_texts(engine, data)
    for name, split in data.splits.items():
        texts, heads = list(split["text"]), list(kept.splits[name]["text"])
        assert kept.splits[name]["label"] == split["label"]
        assert all(t.startswith(h) and (h == t) == (t == "short") for t, h in zip(texts, heads))
        assert engine.render_prompts(heads) == engine.render_prompts(texts)  # the prompt holds all of the head
