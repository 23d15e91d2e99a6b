"""Resumable benchmark cells (corpus x seed x method) kept as compact records, and their table and plot.

A record is one JSON line: corpus, seed, method, the class names, gold and predicted class indices per test
example (-1: no label), a stage summary and wall seconds. Differences between methods are paired bootstrap 95%
intervals over the test examples of the seeds both methods have (gencls_core.stats.seed_bootstrap).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

Record = dict[str, Any]


def read_records(path: Path) -> list[Record]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def run_cells(path: Path, corpus: str, seeds: list[int], methods: list[str],
              cell: Callable[[str, int, str], Record], describe: Callable[[Record], str] | None = None) -> None:
    """Run every (seed, method) cell of ``corpus`` not yet in ``path``, appending each record as it finishes and
    printing its scores (``describe``; default: accuracy and macro-F1)."""
    done = {(r["corpus"], r["seed"], r["method"]) for r in read_records(path)}
    for seed in seeds:
        for method in methods:
            if (corpus, seed, method) in done:
                print(f"skip {corpus} seed {seed} {method}: recorded")
                continue
            record = cell(corpus, seed, method)
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a") as f:
                f.write(json.dumps(record) + "\n")
            print(f"{corpus} seed {seed} {method}: {(describe or scores)(record)} in {record['seconds']} s",
                  flush=True)


def engine_for(config: dict[str, Any]) -> Any:
    """The engine of a cell's run: its run directory continued when an earlier sitting left it unfinished."""
    from gencls_core import Engine

    run_dir = Path(config["output_dir"]) / config["run_name"]
    return Engine.resume(run_dir) if (run_dir / "run.json").is_file() else Engine(config)


def kept_texts(engine: Any, data: Any) -> Any:
    """``data`` with each text of every split cut to what ``engine``'s inference prompt keeps of it (the run's
    truncation policy, as ``metrics.json``'s ``baseline_at_budget`` reads them)."""
    from gencls_core.baseline import with_texts
    from gencls_core.inference import Inference

    return with_texts(data, Inference(engine.resolution, engine.loaded_context("cpu", progress=False)).kept)


def encode(corpus: str, seed: int, method: str, labels: list[str], gold: list[str], predicted: list[Any],
           stage: dict[str, Any], seconds: float) -> Record:
    index = {label: i for i, label in enumerate(labels)}
    return {"corpus": corpus, "seed": seed, "method": method, "labels": labels, "gold": [index[g] for g in gold],
            "predicted": [index.get(p, -1) for p in predicted], "stage": stage, "seconds": round(seconds, 1)}


def f1_of(gold: Any, predicted: Any, record: Record) -> Any:
    """Macro-F1 (``stats.macro_f1``: over the classes held or predicted) along the last axis of resampled
    indices."""
    from gencls_core.stats import macro_f1

    return macro_f1(gold, predicted, len(record["labels"]))


def scores(record: Record) -> str:
    import numpy as np

    gold, predicted = np.array(record["gold"]), np.array(record["predicted"])
    return (f"accuracy {float((gold == predicted).mean()):.3f}, "
            f"macro-F1 {float(f1_of(gold, predicted, record)):.3f}")


def delta(rows: dict[tuple[str, int], Record], method: str, base: str, metric: str) -> str:
    """``method`` minus ``base`` in accuracy (``acc``) or macro-F1 (points) with its paired bootstrap 95% interval
    over the seeds both have."""
    import numpy as np

    both = sorted(s for m, s in rows if m == method and (base, s) in rows
                  and rows[base, s]["gold"] == rows[method, s]["gold"])  # paired on the same examples only
    if method == base or not both:
        return ""
    stats = []
    for s in both:
        r = rows[method, s]
        g, a, b = np.array(r["gold"]), np.array(rows[base, s]["predicted"]), np.array(r["predicted"])
        if metric == "acc":
            stats.append(lambda ix, g=g, a=a, b=b: (b[ix] == g[ix]).mean(-1) - (a[ix] == g[ix]).mean(-1))
        else:
            stats.append(lambda ix, g=g, a=a, b=b, r=r: f1_of(g[ix], b[ix], r) - f1_of(g[ix], a[ix], r))
    return pooled_points(stats, [len(rows[method, s]["gold"]) for s in both])


def pooled_points(stats: list[Any], sizes: list[int], resamples: int | None = None) -> str:
    """A difference pooled over seeds (``stats``: one per seed, resampled test indices -> the difference; ``sizes``:
    each seed's test size) in points, with its paired bootstrap 95% interval (gencls_core.stats.seed_bootstrap)."""
    from gencls_core.stats import seed_bootstrap

    value, low, high = seed_bootstrap(stats, sizes, **({"resamples": resamples} if resamples else {}))
    return f"{100 * value:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}]"


def accuracy_interval(records: list[Record]) -> tuple[float, float, float]:
    """Accuracy averaged over ``records`` (seeds) with its bootstrap 95% interval over their test examples."""
    import numpy as np

    from gencls_core.stats import seed_bootstrap

    stats = [lambda ix, r=r: (np.array(r["gold"])[ix] == np.array(r["predicted"])[ix]).mean(-1) for r in records]
    return seed_bootstrap(stats, [len(r["gold"]) for r in records])


def rare_classes(record: Record) -> list[str]:
    """The classes the run flagged as almost never predicted (gencls_core.results.rarely_predicted: 5+ test
    examples predicted less than a tenth as often, or a collapse onto one class)."""
    from gencls_core.results import rarely_predicted

    labels = record["labels"]
    return list(rarely_predicted([labels[i] for i in record["gold"]],
                                 [labels[i] if i >= 0 else None for i in record["predicted"]], labels))


def table(records: list[Record], methods: Sequence[str], bases: Sequence[str]) -> None:
    """One markdown table per corpus: accuracy and macro-F1 (mean ± sd over seeds), each method minus each of
    ``bases`` (paired 95% intervals), rarely predicted classes, the chosen step per seed, wall seconds."""
    import numpy as np

    for corpus in dict.fromkeys(r["corpus"] for r in records):
        rows = {(r["method"], r["seed"]): r for r in records if r["corpus"] == corpus}
        head = [f"Δ{m} vs {b}" for b in bases for m in ("acc", "F1")]
        print(f"\n### {corpus}\n")
        print(f"| method | seeds | accuracy | macro-F1 | {' | '.join(head)} | rarely predicted (5+ gold, <1/10) "
              f"| chosen step | seconds |")
        print("|---" * (7 + len(head)) + "|")
        for method in methods:
            seeds = sorted(s for m, s in rows if m == method)
            if not seeds:
                continue
            mine = [rows[method, s] for s in seeds]
            acc = [float((np.array(r["gold"]) == np.array(r["predicted"])).mean()) for r in mine]
            f1 = [float(f1_of(np.array(r["gold"]), np.array(r["predicted"]), r)) for r in mine]
            rare = "; ".join(", ".join(rare_classes(r)) or "none" for r in mine)
            steps = [f"{r['stage'].get('train_best_step')}/{r['stage'].get('train_steps')} "
                     f"({r['stage'].get('train_stopped')})"
                     + (f", kept {'+'.join(r['stage']['kept']) or 'none'}" if "kept" in r["stage"] else "")
                     + (", offsets" if r["stage"].get("offsets") else "")
                     + (f", words {r['stage']['lexical_weight']}" if r["stage"].get("lexical_weight") else "")
                     if r["stage"].get("train_best_step") else "—" for r in mine]
            chosen = "; ".join(steps) if set(steps) != {"—"} else ""
            sd = lambda v: f" ± {np.std(v, ddof=1):.3f}" if len(v) > 1 else ""  # noqa: E731
            deltas = [delta(rows, method, b, m) for b in bases for m in ("acc", "f1")]
            print(f"| {method} | {','.join(map(str, seeds))} | {np.mean(acc):.3f}{sd(acc)} | {np.mean(f1):.3f}{sd(f1)} "
                  f"| {' | '.join(deltas)} | {rare} | {chosen} | {', '.join(str(r['seconds']) for r in mine)} |")


def plot(records: list[Record], methods: Sequence[str], path: Path) -> None:
    """Macro-F1 of every method on every corpus, with its bootstrap 95% interval over test examples and seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from gencls_core.stats import seed_bootstrap

    corpora = list(dict.fromkeys(r["corpus"] for r in records))
    fig, axes = plt.subplots(1, len(corpora), figsize=(4 * len(corpora), 3.8), squeeze=False)
    for ax, corpus in zip(axes[0], corpora):
        names, values, errors = [], [], []
        for method in methods:
            mine = [r for r in records if r["corpus"] == corpus and r["method"] == method]
            if not mine:
                continue
            stats = [lambda ix, r=r: f1_of(np.array(r["gold"])[ix], np.array(r["predicted"])[ix], r) for r in mine]
            value, low, high = seed_bootstrap(stats, [len(r["gold"]) for r in mine])
            names.append(f"{method}\n({len(mine)} seed{'s' if len(mine) > 1 else ''})")
            values.append(value)
            errors.append((max(value - low, 0.0), max(high - value, 0.0)))  # near 1 the estimate can pass an end
        ax.bar(range(len(names)), values, yerr=np.array(errors).T, capsize=4, color="#4c72b0")
        ax.set_xticks(range(len(names)), names, fontsize=7, rotation=35, ha="right")  # long names overlap flat
        ax.set_ylim(0, 1)
        ax.set_title(corpus)
        ax.set_ylabel("test macro-F1 (95% CI)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"wrote {path}")


def main(doc: str, path: Path, corpora: Sequence[str], methods: Sequence[str], bases: Sequence[str],
         cell: Callable[[str, int, str], Record],
         draw: Callable[[list[Record], Sequence[str], Path], None] = plot) -> None:
    """The command line every cell benchmark shares: ``run`` cells, or print the ``table`` (and ``--plot``, drawn
    by ``draw``)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    go = sub.add_parser("run")
    go.add_argument("--corpus", default=corpora[0], choices=list(corpora))
    go.add_argument("--seeds", default="0")
    go.add_argument("--methods", default=",".join(methods))
    shown = sub.add_parser("table")
    shown.add_argument("--plot", type=Path, help="also draw macro-F1 per method and corpus into this PNG")
    args = parser.parse_args()
    if args.command == "run":
        chosen = args.methods.split(",")
        unknown = sorted(set(chosen) - set(methods))
        if unknown:
            parser.error(f"unknown methods {unknown}; choose from {', '.join(methods)}")
        run_cells(path, args.corpus, [int(s) for s in args.seeds.split(",")], chosen, cell)
    else:
        order = {corpus: i for i, corpus in enumerate(corpora)}  # tables in the benchmark's corpus order
        records = sorted(read_records(path), key=lambda r: order.get(r["corpus"], len(order)))
        table(records, methods, bases)
        if args.plot:
            draw(records, methods, args.plot)
