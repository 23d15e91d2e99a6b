"""Which training recipe gives the best classifier without expert tuning? (issue 33)

    python benchmarks/recipes.py run [--corpus drug-reviews] [--seeds 0] [--methods sft,sft-chosen]
    python benchmarks/recipes.py table [--plot docs/img/recipes.png]

Methods, on the same seeded splits of each corpus (train / validation / test):
- ``tfidf-lr``: TF-IDF (word 1-2 grams) + logistic regression, C chosen on the validation split;
- ``sft``: today's naive SFT stage (``{name: sft}``: LoRA r16, one epoch, lr 2e-4), the last weights;
- ``sft-chosen``: SFT for up to three epochs at lr 1e-3 with balanced class weights, evaluated on the
  validation split every ``eval_steps`` with the run's decoder, ending with the best checkpoint by macro-F1
  and stopping after three evaluations without improvement (``best_metric``, ``patience``, ``class_weights``);
- ``auto``: the built-in recipe (``recipe: auto``): SFT chosen on validation as above (class weights only on
  imbalanced data), then label-pg kept only when its validation macro-F1 gain is above zero beyond noise.

Every cell is one normal run (its directory under ``runs/recipes/``) that reads the test split once, for the
final evaluation; nothing is chosen on it. A finished cell appends one compact record (metrics, the
per-example predictions as class indices, the stage summary, wall time) to ``benchmarks/results/recipes.jsonl``
and is skipped afterwards, so the benchmark spans sittings. One heavy job at a time: a timing taken beside
another job is void. ``table`` prints accuracy and macro-F1 (mean ± sd over seeds) and the paired bootstrap
95% interval of each method minus ``sft`` and minus ``tfidf-lr`` (the same resampled test examples for every
seed, differences averaged over seeds).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

RECORDS = Path("benchmarks/results/recipes.jsonl")
ROOT = Path("runs/recipes")
CORPORA: dict[str, dict[str, Any]] = {
    "drug-reviews": {"dataset": "drug-reviews", "truncation": {"max_prompt_tokens": 192},
                     "splits": {"train_size": 500, "validation_size": 100, "test_size": 379}},
    "rotten-tomatoes": {"dataset": "movie-reviews",
                        "splits": {"train_size": 500, "validation_size": 100, "test_size": 500}},
    "bbc-news": {"dataset": "bbc-news", "truncation": {"max_prompt_tokens": 192},
                 "splits": {"train_size": 500, "validation_size": 100, "test_size": 500}},
}
TRAINERS: dict[str, list[dict[str, Any]]] = {
    "sft": [{"name": "sft"}],
    "sft-chosen": [{"name": "sft", "epochs": 3, "learning_rate": 1e-3, "class_weights": "balanced",
                    "best_metric": "f1_macro", "patience": 3, "eval_steps": 16}],
}
METHODS = ("tfidf-lr", *TRAINERS, "auto")


def _records() -> list[dict[str, Any]]:
    return [json.loads(line) for line in RECORDS.read_text().splitlines()] if RECORDS.is_file() else []


def _config(corpus: str, seed: int, method: str) -> dict[str, Any]:
    stages = {"recipe": "auto"} if method == "auto" else {"trainers": TRAINERS.get(method, [])}
    return {**CORPORA[corpus], "seed": seed, "progress": False, "output_dir": str(ROOT / corpus),
            "run_name": f"{method}-s{seed}", **stages}


def _tfidf(corpus: str, seed: int) -> tuple[dict[str, Any], list[str], list[str]]:
    """TF-IDF + logistic regression on the run's splits, C chosen on validation macro-F1."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    from gencls_core import Engine

    data = Engine(_config(corpus, seed, "tfidf-lr")).dataset()
    train, val, test = (data.splits[s] for s in ("train", "validation", "test"))
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    x_train = vec.fit_transform(train["text"])
    best = max((f1_score(val["label"], LogisticRegression(C=c, max_iter=2000).fit(x_train, train["label"])
                         .predict(vec.transform(val["text"])), average="macro"), c) for c in (0.1, 1, 10, 100))
    model = LogisticRegression(C=best[1], max_iter=2000).fit(x_train, train["label"])
    predicted = list(model.predict(vec.transform(test["text"])))
    return {"C": best[1], "validation_f1_macro": round(best[0], 4)}, list(test["label"]), predicted


def run_cell(corpus: str, seed: int, method: str) -> dict[str, Any]:
    from gencls_core import Engine

    started = time.time()
    if method == "tfidf-lr":
        summary, gold, predicted = _tfidf(corpus, seed)
        labels = sorted(set(gold))
    else:
        result = Engine(_config(corpus, seed, method)).run()
        gold = [r["gold"] for r in result.predictions]
        predicted = [r["predicted"] for r in result.predictions]
        labels = json.loads((result.run_dir / "run.json").read_text())["data"]["labels"]
        summary = {k: v for k, v in result.stages[0].items() if k.startswith("train_")} if result.stages else {}
        recorded = json.loads((result.run_dir / "run.json").read_text()).get("recipe")
        if recorded:
            summary["kept"] = [c["trainer"] for c in recorded["choices"] if c["kept"]]
    index = {label: i for i, label in enumerate(labels)}
    return {"corpus": corpus, "seed": seed, "method": method, "labels": labels,
            "gold": [index[g] for g in gold], "predicted": [index.get(p, -1) for p in predicted],
            "stage": summary, "seconds": round(time.time() - started, 1)}


def run(corpus: str, seeds: list[int], methods: list[str]) -> None:
    done = {(r["corpus"], r["seed"], r["method"]) for r in _records()}
    for seed in seeds:
        for method in methods:
            if (corpus, seed, method) in done:
                print(f"skip {corpus} seed {seed} {method}: recorded")
                continue
            record = run_cell(corpus, seed, method)
            RECORDS.parent.mkdir(parents=True, exist_ok=True)
            with RECORDS.open("a") as f:
                f.write(json.dumps(record) + "\n")
            print(f"{corpus} seed {seed} {method}: {_scores(record)} in {record['seconds']} s", flush=True)


def _scores(record: dict[str, Any]) -> str:
    import numpy as np

    from gencls_core.stats import macro_f1

    gold, predicted = np.array(record["gold"]), np.array(record["predicted"])
    f1 = float(macro_f1(gold, predicted, len(record["labels"])))
    return f"accuracy {float((gold == predicted).mean()):.3f}, macro-F1 {f1:.3f}"


def _delta(rows: dict[tuple[str, int], dict[str, Any]], method: str, base: str, metric: str) -> str:
    """``method`` minus ``base`` in accuracy or macro-F1 (points) with its paired bootstrap 95% interval over the
    seeds both have."""
    import numpy as np

    from gencls_core.stats import macro_f1, seed_bootstrap

    both = sorted(s for m, s in rows if m == method and (base, s) in rows)
    if method == base or not both:
        return ""
    stats = []
    for s in both:
        g, k = np.array(rows[method, s]["gold"]), len(rows[method, s]["labels"])
        a, b = np.array(rows[base, s]["predicted"]), np.array(rows[method, s]["predicted"])
        if metric == "acc":
            stats.append(lambda ix, g=g, a=a, b=b: (b[ix] == g[ix]).mean(-1) - (a[ix] == g[ix]).mean(-1))
        else:
            stats.append(lambda ix, g=g, a=a, b=b, k=k: macro_f1(g[ix], b[ix], k) - macro_f1(g[ix], a[ix], k))
    value, low, high = seed_bootstrap(stats, [len(rows[method, s]["gold"]) for s in both])
    return f"{100 * value:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}]"


def table() -> None:
    import numpy as np

    from gencls_core.stats import macro_f1

    records = _records()
    for corpus in dict.fromkeys(r["corpus"] for r in records):
        rows = {(r["method"], r["seed"]): r for r in records if r["corpus"] == corpus}
        print(f"\n### {corpus}\n")
        print("| method | seeds | accuracy | macro-F1 | Δacc vs sft [95% CI] | ΔF1 vs sft | ΔF1 vs tfidf-lr | "
              "predicted per class (test gold) | chosen step | seconds |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for method in METHODS:
            seeds = sorted(s for m, s in rows if m == method)
            if not seeds:
                continue
            mine = [rows[method, s] for s in seeds]
            k = len(mine[0]["labels"])
            acc = [float((np.array(r["gold"]) == np.array(r["predicted"])).mean()) for r in mine]
            f1 = [float(macro_f1(np.array(r["gold"]), np.array(r["predicted"]), k)) for r in mine]

            counts = np.bincount([p for p in mine[0]["predicted"] if p >= 0], minlength=k)
            gold = np.bincount(mine[0]["gold"], minlength=k)
            spread = ", ".join(f"{label} {c} ({g})" for label, c, g in zip(mine[0]["labels"], counts, gold))
            chosen = "; ".join(f"{r['stage'].get('train_best_step')}/{r['stage'].get('train_steps')} "
                               f"({r['stage'].get('train_stopped')})"
                               + (f", kept {'+'.join(r['stage']['kept']) or 'none'}" if "kept" in r["stage"] else "")
                               for r in mine if r["stage"].get("train_best_step"))
            sd = lambda v: f" ± {np.std(v, ddof=1):.3f}" if len(v) > 1 else ""  # noqa: E731
            print(f"| {method} | {','.join(map(str, seeds))} | {np.mean(acc):.3f}{sd(acc)} | {np.mean(f1):.3f}{sd(f1)} "
                  f"| {_delta(rows, method, 'sft', 'acc')} | {_delta(rows, method, 'sft', 'f1')} "
                  f"| {_delta(rows, method, 'tfidf-lr', 'f1')} | {spread} | {chosen} "
                  f"| {', '.join(str(r['seconds']) for r in mine)} |")


def _f1_stat(record: dict[str, Any]) -> Any:
    """A record's macro-F1 on resampled test indices (for ``seed_bootstrap``)."""
    import numpy as np

    from gencls_core.stats import macro_f1

    gold, predicted, k = np.array(record["gold"]), np.array(record["predicted"]), len(record["labels"])
    return lambda ix: macro_f1(gold[ix], predicted[ix], k)


def plot(path: Path) -> None:
    """Macro-F1 of every method on every corpus, with its bootstrap 95% interval over test examples and seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from gencls_core.stats import seed_bootstrap

    records = _records()
    corpora = list(dict.fromkeys(r["corpus"] for r in records))
    fig, axes = plt.subplots(1, len(corpora), figsize=(4 * len(corpora), 3.2), squeeze=False)
    for ax, corpus in zip(axes[0], corpora):
        names, values, errors = [], [], []
        for method in METHODS:
            mine = [r for r in records if r["corpus"] == corpus and r["method"] == method]
            if not mine:
                continue
            stats = [_f1_stat(r) for r in mine]
            value, low, high = seed_bootstrap(stats, [len(r["gold"]) for r in mine])
            names.append(f"{method}\n({len(mine)} seed{'s' if len(mine) > 1 else ''})")
            values.append(value)
            errors.append((value - low, high - value))
        ax.bar(range(len(names)), values, yerr=np.array(errors).T, capsize=4, color="#4c72b0")
        ax.set_xticks(range(len(names)), names, fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_title(corpus)
        ax.set_ylabel("test macro-F1 (95% CI)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    go = sub.add_parser("run")
    go.add_argument("--corpus", default="drug-reviews", choices=list(CORPORA))
    go.add_argument("--seeds", default="0")
    go.add_argument("--methods", default=",".join(METHODS))
    shown = sub.add_parser("table")
    shown.add_argument("--plot", type=Path, help="also draw macro-F1 per method and corpus into this PNG")
    args = parser.parse_args()
    if args.command == "run":
        methods = args.methods.split(",")
        unknown = sorted(set(methods) - set(METHODS))
        if unknown:
            parser.error(f"unknown methods {unknown}; choose from {', '.join(METHODS)}")
        run(args.corpus, [int(s) for s in args.seeds.split(",")], methods)
    else:
        table()
        if args.plot:
            plot(args.plot)


if __name__ == "__main__":
    main()
