"""Documents longer than the prompt budget: cut them, or read them whole in windows? (issue 34)

    python benchmarks/long_text.py run [--corpus bbc-news] [--seeds 0] [--methods truncate-192,chunks-192]
    python benchmarks/long_text.py table [--plot docs/img/long-text.png]

BBC News articles whole (533 prompt tokens on average), the same seeded splits for every method (500 train /
100 validation / 500 test). Every trained method is the ``auto`` recipe's SFT (up to three epochs at lr 1e-3,
macro-F1 on validation four times an epoch, patience 3, the best checkpoint kept; ``rl: none``, ``lexical:
false``), trained and evaluated under one long-text policy:
- ``tfidf-lr``: TF-IDF + logistic regression on the whole texts, C chosen on validation;
  ``tfidf-lr@truncate-192`` (or another truncate policy): the same on only what that policy's prompt keeps of
  each text (every split): the bag of words at the generative model's reading budget;
- ``truncate-192`` / ``truncate-384`` / ``truncate-full``: the text cut to a 192- or 384-token prompt, or to the
  model's context less 64 tokens;
- ``chunks-192``: 192-token prompts, every text read in overlapping windows (32 tokens) in training and decoding,
  the windows' label log-probabilities averaged (``long_text: {policy: chunks}``);
- ``chunks-192-one``: the same, but training reads one window per text, drawn by the seed
  (``train_windows: one``: an epoch costs what ``truncate-192``'s does); ``chunks-192-epoch``: one window per
  text drawn afresh every epoch (``train_windows: epoch``; run it from code with the shared prefix on by default,
  so its training seconds are not comparable with cells run before that);
- ``chunks-192@truncate-192``: the ``truncate-192`` model (seed's), only its decoding reads windows;
- ``select-192``: 192-token prompts holding the sentences whose words are rarest in the training texts;
- ``truncate-192+lexical`` (any policy ``+lexical``): that policy with the recipe's lexical step on: TF-IDF +
  logistic regression, reading every word, blended into the model's scores at the weight chosen on validation.

Records go to ``benchmarks/results/long_text.jsonl`` (benchmarks/cells.py: resumable, one heavy job at a
time); each keeps the decode rate (texts/s) and the training seconds per step beside its predictions.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cells import Record, accuracy_interval, encode, engine_for, kept_texts, main

RECORDS = Path("benchmarks/results/long_text.jsonl")
ROOT = Path("runs/long-text")
CORPORA = {"bbc-news": {"dataset": "bbc-news", "splits": {"train_size": 500, "validation_size": 100,
                                                           "test_size": 500}}}
CHUNKS = {"policy": "chunks", "overlap_tokens": 32}
POLICIES: dict[str, dict[str, Any]] = {
    "truncate-192": {"truncation": {"max_prompt_tokens": 192}},
    "truncate-384": {"truncation": {"max_prompt_tokens": 384}},
    "truncate-full": {},
    "chunks-192": {"truncation": {"max_prompt_tokens": 192}, "long_text": CHUNKS},
    "chunks-192-one": {"truncation": {"max_prompt_tokens": 192}, "long_text": {**CHUNKS, "train_windows": "one"}},
    "chunks-192-epoch": {"truncation": {"max_prompt_tokens": 192},
                         "long_text": {**CHUNKS, "train_windows": "epoch"}},
    "chunks-192@truncate-192": {"truncation": {"max_prompt_tokens": 192}, "long_text": CHUNKS},
    "select-192": {"truncation": {"max_prompt_tokens": 192}, "long_text": {"policy": "select"}},
}
LEXICAL = ("truncate-192+lexical", "truncate-384+lexical")
METHODS = ("tfidf-lr", *(f"tfidf-lr@{p}" for p in POLICIES if p.startswith("truncate")), *POLICIES, *LEXICAL)


def _config(corpus: str, seed: int, method: str) -> dict[str, Any]:
    policy, lexical = method.removesuffix("+lexical"), method.endswith("+lexical")
    config = {**CORPORA[corpus], **POLICIES.get(policy, {}), "seed": seed, "progress": False,
              "output_dir": str(ROOT / corpus), "run_name": f"{method}-s{seed}"}
    if "@" in method:  # decoding only, with the model another cell trained
        return {**config, "start_from": str(ROOT / corpus / f"{method.split('@')[1]}-s{seed}")}
    return {**config, "recipe": {"name": "auto", "rl": "none", "lexical": lexical}}


def run_cell(corpus: str, seed: int, method: str) -> Record:
    from gencls_core import Engine
    from gencls_core.baseline import tfidf_predictions

    started = time.time()
    if method.startswith("tfidf-lr"):
        engine = Engine(_config(corpus, seed, method.partition("@")[2] or method))
        data = engine.dataset()
        if "@" in method:
            data = kept_texts(engine, data)
        predicted, summary = tfidf_predictions(data)
        return encode(corpus, seed, method, list(data.labels), list(data.splits["test"]["label"]), predicted,
                      summary, time.time() - started)
    result = engine_for(_config(corpus, seed, method)).run()
    record = json.loads((result.run_dir / "run.json").read_text())
    summary = {k: v for k, v in result.stages[0].items() if k.startswith("train_")} if result.stages else {}
    if summary.get("train_steps"):
        summary["train_seconds_per_step"] = round(summary["train_runtime_seconds"] / summary["train_steps"], 2)
    summary.update({k: result.metrics[k] for k in ("decode_examples_per_second", "truncated", "chunked")
                    if k in result.metrics})
    if (record.get("recipe") or {}).get("lexical"):
        summary["lexical_weight"] = record["recipe"]["lexical"]["weight"]
    return encode(corpus, seed, method, record["data"]["labels"], [r["gold"] for r in result.predictions],
                  [r["predicted"] for r in result.predictions], summary, time.time() - started)


def accuracy_vs_cost(records: list[Record], methods: Sequence[str], path: Path) -> None:
    """Test accuracy (bootstrap 95% interval over test texts and seeds) against decode seconds per text, one point
    per decoded method; TF-IDF + LR on whole texts as a horizontal band (its decode cost is nil on this scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(6, 3.6))
    base = [r for r in records if r["method"] == "tfidf-lr"]
    if base:
        value, low, high = accuracy_interval(base)
        ax.axhspan(low, high, color="0.85")
        ax.axhline(value, color="0.4", label="tfidf-lr (whole texts)")
    for method in methods:
        mine = [r for r in records if r["method"] == method and r["stage"].get("decode_examples_per_second")]
        if mine:
            value, low, high = accuracy_interval(mine)
            cost = float(np.mean([1 / r["stage"]["decode_examples_per_second"] for r in mine]))
            ax.errorbar([cost], [value], yerr=[[value - low], [high - value]], marker="o", capsize=3, label=method)
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1, 2, 5)))
    ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("decode seconds per text (2 CPU cores; log scale)")
    ax.set_ylabel("test accuracy (95% CI)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"wrote {path}")


if __name__ == "__main__":
    main(__doc__, RECORDS, list(CORPORA), METHODS, ("tfidf-lr", "truncate-192"), run_cell, accuracy_vs_cost)
