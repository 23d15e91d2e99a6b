"""benchmarks/decode.py's text-only floor row (issue 39) on the tiny model: it reads the same test texts the
decoder's prompts hold, and the token counts it reports add up."""

import argparse
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _decode_module():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        spec = importlib.util.spec_from_file_location("decode_benchmark", ROOT / "benchmarks" / "decode.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


def test_the_text_only_floor_row_reads_the_prompts_own_texts(tiny_model_dir, monkeypatch):
    decode = _decode_module()
    monkeypatch.setattr(decode, "MODEL", str(tiny_model_dir))
    lm, _, prompts, _, texts = decode.setup("movie-reviews", 12)
    assert len(texts) == len(prompts) == 12 and all(t in p for t, p in zip(texts, prompts))
    row = decode.text_floor_row("movie-reviews", argparse.Namespace(n=12, batch_size=4))
    cells = [c.strip() for c in row.strip("|").split("|")]
    text_tokens, prompt_tokens, prefix, after = (float(c) for c in cells[1:5])
    tokens = lm.tokenizer(texts, add_special_tokens=False)["input_ids"]
    assert text_tokens == round(sum(map(len, tokens)) / len(tokens))
    assert prompt_tokens > text_tokens + prefix and after > 0  # the prompt holds the text, its prefix and a tail
    assert len(cells) == 11 and all(float(c) > 0 for c in cells[5:9])  # four rates, then two ratios
    assert cells[9].endswith("x") and cells[10].endswith("x")
