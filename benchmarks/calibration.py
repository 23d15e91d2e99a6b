"""Zero-shot calibration of perplexity decoding: every ``calibrate`` option on three corpora.

    python benchmarks/calibration.py                      # validation splits: choose the default here
    python benchmarks/calibration.py --split test         # read once, for the final table

Zero-shot SmolLM2-135M-Instruct, perplexity decoding, on Rotten Tomatoes, BBC News and drug reviews (the
splits of ``benchmarks/rl.py``). Each input is scored once; every calibration is then applied to the same
score matrix through the decoder's own ``predictions`` (the extra texts it scores, content-free inputs
and training samples, are scored once and cached), so the options differ only in the bias they remove.
Prints accuracy, macro-F1, ECE and the predicted-label histogram per option. The scores are stored under
``runs/calibration-bench/`` (the only slow part: a later call, e.g. after a change to a calibration method,
re-analyses them without the model; delete them to score again).
"""

from __future__ import annotations

import argparse
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

from rl import DATASETS

OUT = Path("runs/calibration-bench")
OPTIONS: dict[str, dict[str, Any]] = {
    "none": {}, "contextual": {"calibrate": "contextual"}, "domain": {"calibrate": "domain"},
    "batch": {"calibrate": "batch"}, "batch (train sample)": {"calibrate": "batch", "fit_on": "train"},
    "prior": {"calibrate": "prior"},
}


def _measure(dataset: str, split: str) -> dict[str, Any]:
    """Every option's metrics on ``split``, from the raw label log-probabilities of each text scored (read from
    and added to ``runs/calibration-bench/<dataset>-scores.json``, so options can be re-analysed without the
    model)."""
    from sklearn.metrics import accuracy_score, f1_score

    from gencls_core import Engine
    from gencls_core.inference import Inference
    from gencls_core.interfaces import RunContext
    from gencls_plugins.decoders.perplexity import Perplexity
    from gencls_plugins.evaluators.metrics import Calibration

    spec = DATASETS[dataset]
    config = {"dataset": spec["dataset"], "seed": 0, "progress": True, "splits": spec["splits"],
              **({"truncation": spec["truncation"]} if "truncation" in spec else {})}
    engine = Engine(config)
    data = engine.dataset()
    classes = data.labels
    store = OUT / f"{dataset}-scores.json"
    cache: dict[str, list[float]] = json.loads(store.read_text()) if store.is_file() else {}
    loaded: dict[str, Any] = {}

    def render(text: str) -> str:
        if not loaded:  # the model only when a text has no stored score
            model_ctx = engine.loaded_context("cpu", progress=True)
            inference = Inference(engine.resolution, model_ctx)
            model_ctx.render = inference.renderer()[0]
            model_ctx.lm.model.eval()
            loaded.update(ctx=model_ctx, labels=inference.labels)
        return loaded["ctx"].render(text)

    def score_texts(texts: list[str]) -> list[list[float]]:
        todo = [t for t in dict.fromkeys(texts) if t not in cache]
        if todo:
            prompts = [render(t) for t in todo]
            ctx, labels = loaded["ctx"], loaded["labels"]
            for t, p in zip(todo, Perplexity().decode(ctx.lm, prompts, labels, ctx)):
                cache[t] = [math.log(p.probs[k]) for k in classes]
            store.write_text(json.dumps(cache))
        return [cache[t] for t in texts]

    ctx = RunContext(seed=0, device="cpu", run_dir=None, progress=True, data=data, render=render)
    gold = list(data.splits[split]["label"])
    rows = score_texts(list(data.splits[split]["text"]))
    results, uncalibrated = {}, None
    for name, options in OPTIONS.items():
        predictions = Perplexity(Perplexity.Config(**options)).predictions(rows, classes, score_texts, ctx)
        predicted = [p.label for p in predictions]
        uncalibrated = uncalibrated or predicted
        results[name] = {"accuracy": accuracy_score(gold, predicted),
                         "f1_macro": f1_score(gold, predicted, labels=classes, average="macro", zero_division=0),
                         "ece": Calibration().evaluate(gold, predictions, classes)["ece"],
                         "f1_minus_none": _f1_difference(gold, uncalibrated, predicted, classes),
                         "predicted": dict(Counter(predicted)), "gold": dict(Counter(gold))}
    return {"dataset": dataset, "split": split, "n": len(gold), "classes": classes, "results": results}


def _f1_difference(gold: list[str], base: list[str], other: list[str], classes: list[str],
                   resamples: int = 1000) -> tuple[float, float, float]:
    """Macro-F1 of ``other`` minus ``base`` on the same examples, in points, with its paired bootstrap 95%
    interval (the same resampled examples for both)."""
    import numpy as np
    from sklearn.metrics import f1_score

    def f1(pred: Any, idx: Any) -> float:
        return f1_score(np.asarray(gold)[idx], np.asarray(pred)[idx], labels=classes, average="macro",
                        zero_division=0)

    everything = np.arange(len(gold))
    rng = np.random.default_rng(0)
    draws = [f1(other, idx) - f1(base, idx) for idx in rng.integers(0, len(gold), size=(resamples, len(gold)))]
    low, high = np.percentile(draws, [2.5, 97.5])
    return tuple(round(100 * v, 1) for v in (f1(other, everything) - f1(base, everything), low, high))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=["validation", "test"], default="validation")
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=list(DATASETS))
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    for dataset in args.datasets:
        record = _measure(dataset, args.split)
        print(f"\n{dataset}, {args.split} split, {record['n']} examples, gold {record['results']['none']['gold']}")
        print("| calibrate | accuracy | macro-F1 | macro-F1 minus none, paired 95% interval (points) | ECE | "
              "predicted labels |\n|---|---|---|---|---|---|")
        for name, r in record["results"].items():
            histogram = ", ".join(f"{k} {r['predicted'].get(k, 0)}" for k in record["classes"])
            diff = "" if name == "none" else "{:+.1f} [{:+.1f}, {:+.1f}]".format(*r["f1_minus_none"])
            print(f"| {name} | {r['accuracy']:.3f} | {r['f1_macro']:.3f} | {diff} | {r['ece']:.3f} | {histogram} |")


if __name__ == "__main__":
    main()
