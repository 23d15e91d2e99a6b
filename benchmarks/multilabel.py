"""Multi-label classification on a test bed (issue 38): one-vs-rest TF-IDF + LR, zero-shot, SFT, SFT → label-pg.

    python benchmarks/multilabel.py run [--seeds 0,1,2] [--methods tfidf-ovr,zero-shot,sft,sft+label-pg]
    python benchmarks/multilabel.py table

No public multi-label text corpus ships in a PyPI package this project found, so this is a **test bed for the
mechanics, not a real-world result**: TREC questions (6 coarse answer types, from the `trec-questions`
dataset), each text either one question (one label) or two questions of different types joined (both labels),
half and half, drawn by the seed. 600 training, 100 validation and 300 test texts, the same for every method of
a seed. Methods:
- ``tfidf-ovr``: one-vs-rest TF-IDF + logistic regression (gencls_core.baseline.tfidf_sets; C by validation
  micro-F1);
- ``zero-shot``: SmolLM2-135M-Instruct, perplexity decoding, the threshold chosen on validation;
- ``sft``: SFT on the set answers (labels in a fresh seeded order per example; up to 3 epochs at lr 1e-3, micro-F1
  on validation four times an epoch, patience 3, the best checkpoint kept), then the threshold on validation;
- ``sft+label-pg``: that seed's ``sft`` model, then label-pg with label-match's set reward (the recipe's lr 5e-5,
  one epoch, entropy_coef 0.2, chosen on validation like sft), then the threshold on validation.

Records (benchmarks/results/multilabel.jsonl, resumable cells, one heavy job at a time) keep each test text's
gold and predicted label indices; the table gives micro- and macro-F1 (mean over seeds) and each method minus
``tfidf-ovr`` with paired bootstrap 95% intervals over the test texts of the seeds both have.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

from cells import Record, engine_for, pooled_points, read_records, run_cells

RECORDS = Path("benchmarks/results/multilabel.jsonl")
ROOT = Path("runs/multilabel")
METHODS = ("tfidf-ovr", "zero-shot", "sft", "sft+label-pg")
SIZES = {"train": 600, "validation": 100, "test": 300}


def test_bed(seed: int) -> Path:
    """The seed's JSON Lines file of single and joined TREC questions with their label lists."""
    path = ROOT / f"trec-pairs-s{seed}.jsonl"
    if path.is_file():
        return path
    from gencls_core import Engine

    data = Engine({"dataset": {"name": "trec-questions", "level": "coarse"}, "progress": False,
                   "splits": {"test_size": 500}}).dataset()
    rows = [(t, label) for split in data.splits.values() for t, label in zip(split["text"], split["label"])]
    rng = random.Random(f"multilabel-{seed}")
    rng.shuffle(rows)
    out, i = [], 0
    while len(out) < sum(SIZES.values()):
        (text, label), i = rows[i], i + 1
        if rng.random() < 0.5:
            other = next(j for j in range(i, len(rows)) if rows[j][1] != label)
            rows[i], rows[other] = rows[other], rows[i]
            (second, label2), i = rows[i], i + 1
            out.append({"text": f"{text} {second}", "label": sorted([label, label2])})
        else:
            out.append({"text": text, "label": [label]})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in out))
    return path


def _config(seed: int, method: str) -> dict[str, Any]:
    config: dict[str, Any] = {
        "dataset": {"name": "local", "path": str(test_bed(seed)), "multi_label": True,
                    "task": "Classify the question by the type of its answer."},
        "splits": {"test_size": SIZES["test"], "validation_size": SIZES["validation"]}, "seed": seed,
        "progress": False, "output_dir": str(ROOT), "run_name": f"{method}-s{seed}"}
    every = SIZES["train"] // 8 // 4
    chosen = {"batch_size": 8, "best_metric": "f1_micro", "patience": 3, "eval_steps": every, "save_steps": every}
    if method == "sft":
        config["trainers"] = [{"name": "sft", "epochs": 3, "learning_rate": 1e-3, **chosen}]
    elif method == "sft+label-pg":
        config["start_from"] = str(ROOT / f"sft-s{seed}")
        config["trainers"] = [{"name": "label-pg", "epochs": 1, "learning_rate": 5e-5, "entropy_coef": 0.2, **chosen}]
    return config


def run_cell(corpus: str, seed: int, method: str) -> Record:
    started = time.time()
    if method == "tfidf-ovr":
        from gencls_core import Engine
        from gencls_core.baseline import tfidf_sets

        data = Engine(_config(seed, method)).dataset()
        predicted, summary = tfidf_sets(data)
        labels = list(data.labels)
        gold = list(data.splits["test"]["label"])
        sets = [[labels[j] for j in range(len(labels)) if row[j]] for row in predicted]
        return _encode(seed, method, labels, gold, sets, summary, time.time() - started)
    result = engine_for(_config(seed, method)).run()
    record = json.loads((result.run_dir / "run.json").read_text())
    summary = {k: v for k, v in result.stages[-1].items() if k.startswith("train_")} if result.stages else {}
    summary["label_threshold"] = result.metrics.get("label_threshold")
    return _encode(seed, method, record["data"]["labels"], [r["gold"] for r in result.predictions],
                   [r["predicted"] or [] for r in result.predictions], summary, time.time() - started)


def _encode(seed: int, method: str, labels: list[str], gold: list[list[str]], predicted: list[list[str]],
            stage: dict[str, Any], seconds: float) -> Record:
    index = {label: i for i, label in enumerate(labels)}
    return {"corpus": "trec-pairs", "seed": seed, "method": method, "labels": labels,
            "gold": [[index[x] for x in g] for g in gold], "predicted": [[index[x] for x in p] for p in predicted],
            "stage": stage, "seconds": round(seconds, 1)}


def _matrix(sets: list[list[int]], k: int) -> Any:
    """The examples x labels 0/1 matrix of label-index sets."""
    from gencls_core.label_sets import indicator

    return indicator(sets, range(k)).astype(bool)


def scores(record: Record) -> str:
    from gencls_core.stats import set_f1

    k = len(record["labels"])
    g, p = _matrix(record["gold"], k)[None], _matrix(record["predicted"], k)[None]
    return f"micro-F1 {float(set_f1(g, p, 'micro')[0]):.3f}, macro-F1 {float(set_f1(g, p, 'macro')[0]):.3f}"


BASES = ("tfidf-ovr", "sft")  # every method minus each of these, paired over the seeds both have


def table(records: list[Record]) -> None:
    """Micro- and macro-F1 (mean ± sd over seeds) with each method minus ``BASES``, then F1 per label."""
    import numpy as np
    from sklearn.metrics import f1_score

    from gencls_core.stats import set_f1

    rows = {(r["method"], r["seed"]): r for r in records}
    mats = {key: (_matrix(r["gold"], len(r["labels"])), _matrix(r["predicted"], len(r["labels"])))
            for key, r in rows.items()}

    def delta(method: str, base: str, average: str) -> str:
        both = sorted(s for m, s in rows if m == method and (base, s) in rows)
        if method == base or not both:
            return ""
        stats = [lambda ix, g=mats[method, s][0], p=mats[method, s][1], b=mats[base, s][1]:
                 set_f1(g[ix], p[ix], average) - set_f1(g[ix], b[ix], average) for s in both]
        return pooled_points(stats, [len(mats[method, s][0]) for s in both], resamples=1000)

    methods = [m for m in METHODS if any(key[0] == m for key in rows)]
    print("| method | seeds | micro-F1 | macro-F1 | " + " | ".join(f"Δmicro vs {b} | Δmacro vs {b}" for b in BASES)
          + " | threshold | seconds |")
    print("|---|---|---|---|" + "---|---|" * len(BASES) + "---|---|")
    for method in methods:
        seeds = sorted(s for m, s in rows if m == method)
        scores = {a: [float(set_f1(g[None], p[None], a)[0]) for g, p in (mats[method, s] for s in seeds)]
                  for a in ("micro", "macro")}
        cuts = ", ".join(f"{rows[method, s]['stage']['label_threshold']:.3g}" for s in seeds
                         if rows[method, s]["stage"].get("label_threshold") is not None)
        spread = {a: f"{np.mean(v):.3f} ± {np.std(v, ddof=1):.3f}" if len(v) > 1 else f"{v[0]:.3f}"
                  for a, v in scores.items()}
        print(f"| {method} | {','.join(map(str, seeds))} | {spread['micro']} | {spread['macro']} | "
              + " | ".join(f"{delta(method, b, 'micro')} | {delta(method, b, 'macro')}" for b in BASES)
              + f" | {cuts} | {', '.join(str(rows[method, s]['seconds']) for s in seeds)} |")
    labels = records[0]["labels"]
    print("\nF1 per label (mean over the seeds; test texts with the label per seed: "
          + ", ".join(f"{label} {int(np.mean([mats[k][0][:, i].sum() for k in rows if k[0] == methods[0]]))}"
                      for i, label in enumerate(labels)) + ")\n")
    print("| method | " + " | ".join(labels) + " |")
    print("|---|" + "---|" * len(labels))
    for method in methods:
        per = np.mean([f1_score(g, p, average=None, zero_division=0) for (m, _), (g, p) in mats.items()
                       if m == method], axis=0)
        print(f"| {method} | " + " | ".join(f"{v:.2f}" for v in per) + " |")


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    go = sub.add_parser("run")
    go.add_argument("--seeds", default="0")
    go.add_argument("--methods", default=",".join(METHODS))
    sub.add_parser("table")
    args = parser.parse_args()
    if args.command == "run":
        chosen = args.methods.split(",")
        if set(chosen) - set(METHODS):
            parser.error(f"unknown methods {sorted(set(chosen) - set(METHODS))}; choose from {', '.join(METHODS)}")
        run_cells(RECORDS, "trec-pairs", [int(s) for s in args.seeds.split(",")], chosen, run_cell, scores)
    else:
        table(read_records(RECORDS))


if __name__ == "__main__":
    main()
