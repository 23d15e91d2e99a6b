"""Does RL after SFT pay off? Naive SFT against SFT -> {label-pg, GRPO, PPO} and an extra-compute SFT control.

    python benchmarks/rl.py run --dataset rotten-tomatoes --phase screen   # seed 0, every method
    python benchmarks/rl.py run --dataset rotten-tomatoes --phase final    # seeds 1, 2: SFT and the chosen RL
    python benchmarks/rl.py table                                          # tables, intervals, curve PNGs

Every training run evaluates on the **validation** split; the RL method given three seeds is the one with the best
validation accuracy in the screen (seed 0), chosen by the script (or named with ``--method``). The **test** split
is read once per trained model, by a separate evaluation-only run of the merged model. Every run and evaluation is
a cell under ``runs/rl-bench/<dataset>/``: a finished cell is skipped, an interrupted one resumes from its
checkpoint, so the benchmark spans as many sittings as it needs. One heavy job at a time: timings beside another
job are void. A finished cell's records (run, metrics, stage records, test predictions without their texts) are
kept in ``benchmarks/results/rl-bench.jsonl`` (tracked; unpacked into ``runs/rl-bench-records/`` by every command):
the table reads only those, a recorded cell is not run again on another machine, and a cell whose model a later
cell needs is retrained (seeded) where only its records survive.

The ``converged`` phase is the fair test of RL after SFT: from the 2-epoch SFT model (merged, a fresh LoRA
adapter), one more epoch of SFT (``sft+2``) against one epoch of the screened label-pg (``label-pg@2``).

Methods, all from the same training split of the seed: ``sft`` (one epoch, LoRA r16), ``sft+1`` (the
control: the same adapter trained one more epoch, the compute of an RL epoch), and RL stages started from the
merged SFT model: ``label-pg`` (lr 5e-5 and 2e-4, beta 0.05; on imbalanced data also with inverse-frequency
class weights), ``grpo-band`` and ``ppo-band`` (sampled RL on the examples whose gold-answer probability under
SFT lies in [0.05, 0.95]; PPO's rollouts constrained to the label answers). ``table`` adds TF-IDF +
logistic regression on the same splits, and the paired bootstrap 95% interval of each method's accuracy minus
SFT's and minus the control's, pooled over the seeds (the same resampled test examples for every seed, the
difference averaged over seeds), and the seed-0 stage's training seconds over all its attempts (n/a: a stage
resumed before stages logged their time; times taken beside another job are not comparable).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

import records

ROOT = Path("runs/rl-bench")  # the cells: checkpoints and models (git-ignored)
PACK = Path("benchmarks/results/rl-bench.jsonl")  # each finished cell's records (tracked; benchmarks/records.py)
KEPT = Path("runs/rl-bench-records")  # PACK unpacked, rebuilt from it by every command; the table reads these
DATASETS: dict[str, dict[str, Any]] = {
    "rotten-tomatoes": {"dataset": "movie-reviews",
                        "splits": {"train_size": 1000, "validation_size": 300, "test_size": 500}},
    "drug-reviews": {"dataset": "drug-reviews", "truncation": {"max_prompt_tokens": 192},
                     "splits": {"train_size": 500, "validation_size": 100, "test_size": 379}},
    "bbc-news": {"dataset": "bbc-news", "truncation": {"max_prompt_tokens": 192},
                 "splits": {"train_size": 500, "validation_size": 200, "test_size": 500}},
}
QUIET = {"report_to": ["none"], "save_steps": 25, "logging_steps": 5}
SFT = {"name": "sft", "batch_size": 8, "learning_rate": 2e-4, "epochs": 1, "eval_steps": 10**6, **QUIET}
BAND = {"low": 0.05, "high": 0.95}
RL: dict[str, dict[str, Any]] = {
    "label-pg": {"name": "label-pg", "batch_size": 8, "learning_rate": 5e-5, "beta": 0.05, "epochs": 1, **QUIET},
    "label-pg-lr2e-4": {"name": "label-pg", "batch_size": 8, "learning_rate": 2e-4, "beta": 0.05, "epochs": 1,
                        **QUIET},
    "grpo-band": {"name": "grpo", "batch_size": 16, "num_generations": 8, "max_completion_length": 8,
                  "learning_rate": 2e-5, "max_steps": 60, "difficulty_band": BAND, **QUIET},
    "ppo-band": {"name": "ppo", "max_steps": 30, "batch_size": 8, "mini_batch_size": 4, "ppo_epochs": 2,
                 "learning_rate": 1e-5, "max_completion_length": 8, "kl_coef": 0.05, "difficulty_band": BAND,
                 "constrained": True, "logging_steps": 1, "save_steps": 10},
}
# the fair test: one more epoch of SFT or of label-pg, both from the 2-epoch SFT model (merged, fresh adapter)
CONVERGED = ("sft+2", "label-pg@2")
WEIGHTED = "label-pg-balanced"  # label-pg at the better screened rate, inverse-frequency class weights
SEEDS = (0, 1, 2)


def _config(dataset: str, seed: int, name: str, **extra: Any) -> dict[str, Any]:
    spec = DATASETS[dataset]
    return {"dataset": spec["dataset"], "seed": seed, "progress": True, "evaluate_untrained": False,
            "decoder": {"name": "perplexity", "calibrate": "none"},  # fixed: every cell decodes alike
            "splits": {**spec["splits"], "evaluate": "validation"}, "output_dir": str(ROOT / dataset),
            "run_name": f"seed{seed}-{name}", **({"truncation": spec["truncation"]} if "truncation" in spec else {}),
            **extra}


def _record(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / "run.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _done(dataset: str, run_name: str, model_needed: bool = False) -> dict[str, Any] | None:
    """The run record of a finished cell: from its run folder, or (when its model is not needed) from the
    kept records."""
    for where in (ROOT, *(() if model_needed else (KEPT,))):
        record = _record(where / dataset / run_name)
        if record and record.get("status") == "done":
            return record
    return None


def _keep(run_dir: Path, kept: Path) -> None:
    """Copy a finished cell's records to the tracked results; an existing record is left as it is (a cell
    retrained only for its model keeps the record its tests were read with)."""
    if _record(kept):
        print(f"{kept} already recorded: left as it was", flush=True)
        return
    kept.mkdir(parents=True)
    for name in ("run.json", "metrics.json"):
        shutil.copy(run_dir / name, kept / name)
    if "-test-" in run_dir.name:  # the test predictions, without texts, outputs and raw scores
        rows = [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]
        (kept / "predictions.jsonl").write_text("".join(
            json.dumps({k: row[k] for k in ("gold", "predicted", "correct", "probs")}) + "\n" for row in rows))
    for stage in sorted((run_dir / "stages").glob("*")):
        (kept / "stages" / stage.name).mkdir(parents=True)
        for name in ("stage.json", "log_history.json"):
            if (stage / name).is_file():
                shutil.copy(stage / name, kept / "stages" / stage.name / name)
    records.pack(KEPT, PACK)


def _cell(config: dict[str, Any]) -> dict[str, Any]:
    """Run (or resume) one gencls run that is not done (callers check ``_done`` first) and keep its records; its
    run record with the wall time of this call added."""
    from gencls_core import Engine

    run_dir = Path(config["output_dir"]) / config["run_name"]
    record_path = run_dir / "run.json"
    print(f"== {run_dir}", flush=True)
    started = time.time()
    if _record(run_dir):
        Engine.resume(run_dir).run()
    else:
        shutil.rmtree(run_dir, ignore_errors=True)  # claimed but never started
        Engine(config).run()
    record = json.loads(record_path.read_text())
    record["bench_seconds"] = record.get("bench_seconds", 0) + round(time.time() - started, 1)
    record_path.write_text(json.dumps(record, indent=1))
    _keep(run_dir, KEPT / run_dir.parent.name / run_dir.name)
    return record


def _source(method: str) -> tuple[str, int]:
    """The training run (cell name) and stage that produce ``method``'s model."""
    return {"sft": ("sft", 1), "sft+1": ("sft", 2)}.get(method, (method, 1))


def _stage_model(dataset: str, seed: int, name: str, stage: int) -> Path:
    from gencls_core.weights import merge_adapter

    _train(dataset, seed, name, model_needed=True)
    stage_dir = next((ROOT / dataset / f"seed{seed}-{name}" / "stages").glob(f"{stage}-*"))
    return merge_adapter(stage_dir / "model", stage_dir / "merged")


def _test(dataset: str, seed: int, method: str) -> dict[str, Any]:
    """Evaluate a trained method's merged model once on the test split."""
    if record := _done(dataset, f"seed{seed}-test-{method}"):
        return record
    model = _stage_model(dataset, seed, *_source(method))
    config = _config(dataset, seed, f"test-{method}", model={"name": "hf", "path": str(model)})
    config["splits"]["evaluate"] = "test"
    return _cell(config)


def _train(dataset: str, seed: int, method: str, model_needed: bool = False) -> dict[str, Any]:
    if record := _done(dataset, f"seed{seed}-{method}", model_needed):
        return record
    if method == "sft":
        return _cell(_config(dataset, seed, "sft", trainers=[SFT, SFT]))
    if method in CONVERGED:
        trainer = SFT if method == "sft+2" else RL[_best_label_pg(dataset)]
        base = _stage_model(dataset, seed, "sft", 2)
        return _cell(_config(dataset, seed, method, model={"name": "hf", "path": str(base)}, trainers=[trainer]))
    base = _stage_model(dataset, seed, "sft", 1)
    extra: dict[str, Any] = {}
    if method == WEIGHTED:
        counts = Counter(_train(dataset, seed, "sft")["data"]["train_label_counts"])
        total, k = sum(counts.values()), len(counts)
        extra["rewards"] = [{"name": "label-match", "class_weights": {c: round(total / (k * n), 4)
                                                                      for c, n in counts.items()}}]
        trainer = RL[_best_label_pg(dataset)]
    else:
        trainer = RL[method]
    return _cell(_config(dataset, seed, method, model={"name": "hf", "path": str(base)}, trainers=[trainer], **extra))


def _validation(dataset: str, seed: int, method: str) -> float | None:
    name, stage = _source(method)
    path = KEPT / dataset / f"seed{seed}-{name}" / "run.json"
    if not path.is_file():
        return None
    stages = json.loads(path.read_text()).get("stages", [])
    return next((s["accuracy"] for s in stages if s["stage"] == stage), None)


def _best_label_pg(dataset: str) -> str:
    scores = {m: _validation(dataset, 0, m) for m in ("label-pg", "label-pg-lr2e-4")}
    return max(scores, key=lambda m: scores[m] if scores[m] is not None else -1)


def _rl_methods(dataset: str) -> list[str]:
    imbalanced = dataset != "rotten-tomatoes"
    return ["label-pg", "label-pg-lr2e-4", *([WEIGHTED] if imbalanced else []), "grpo-band", "ppo-band"]


def _chosen(dataset: str, given: str | None) -> str:
    """The RL method with the best seed-0 validation accuracy, or the one given (before the screen ends)."""
    scores = {m: _validation(dataset, 0, m) for m in _rl_methods(dataset)}
    shown = ", ".join(f"{m} {'not screened' if v is None else f'{v:.3f}'}" for m, v in scores.items())
    if given:
        if scores.get(given) is None:
            raise SystemExit(f"--method {given}: no seed-0 validation result for it on {dataset}; screen it first")
        print(f"given: {given} (seed-0 validation: {shown})")
        return given
    missing = [m for m, v in scores.items() if v is None]
    if missing:
        raise SystemExit(f"screen {dataset} first: no validation result for {', '.join(missing)} "
                         "(or name the method with --method)")
    best = max(scores, key=scores.__getitem__)
    print(f"chosen on validation (seed 0): {best} ({shown})")
    return best


def run(dataset: str, phase: str, seeds: tuple[int, ...], methods: list[str] | None, given: str | None) -> None:
    if phase == "converged":
        for seed in seeds:
            _train(dataset, seed, "sft")
            for method in CONVERGED:
                _train(dataset, seed, method)
                _test(dataset, seed, method)
        return
    if phase == "screen":
        _train(dataset, 0, "sft")
        for method in ("sft", "sft+1"):
            if methods is None or method in methods:
                _test(dataset, 0, method)
        for method in _rl_methods(dataset):
            if methods is None or method in methods:
                _train(dataset, 0, method)
                _test(dataset, 0, method)
    else:
        best = _chosen(dataset, given)
        for seed in seeds:
            _train(dataset, seed, "sft")
            _train(dataset, seed, best)
            for method in ("sft", "sft+1", best):
                _test(dataset, seed, method)


# -- the table -------------------------------------------------------------------------------------------------
def _tested(dataset: str, seed: int, method: str) -> tuple[dict[str, Any], list[bool]] | None:
    run_dir = KEPT / dataset / f"seed{seed}-test-{method}"
    record = _record(run_dir)
    if not record or record.get("status") != "done":
        return None
    rows = [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]
    return json.loads((run_dir / "metrics.json").read_text()), [r["correct"] for r in rows]


def _train_seconds(dataset: str, seed: int, method: str) -> float | None:
    """The training seconds of the method's stage over all its attempts; None for a stage resumed before
    stages logged ``train_seconds`` (its record holds the last attempt's time only)."""
    name, stage = _source(method)
    stage_dir = next((KEPT / dataset / f"seed{seed}-{name}" / "stages").glob(f"{stage}-*"), None)
    if stage_dir is None or not (stage_dir / "stage.json").is_file():
        return None
    from gencls_plugins.trainers.stage import last_logged

    train = json.loads((stage_dir / "stage.json").read_text())["train"]
    logged = last_logged(json.loads((stage_dir / "log_history.json").read_text()), "train_seconds")
    if logged is not None:
        return logged
    return None if train.get("resumed_from_step") else train.get("runtime_seconds")


def _baseline(dataset: str, seed: int) -> tuple[float, float]:
    """The study's TF-IDF (word 1-2 grams) + logistic regression baseline on the seed's train split, scored on
    its test split (predictions cached in the run folder)."""
    from sklearn.metrics import f1_score

    from gencls_core.study.baselines import baseline_predictions, baseline_recipe

    config = _config(dataset, seed, "tfidf")
    config["splits"]["evaluate"] = "test"
    rows = baseline_predictions("tfidf", config, ROOT / dataset / f"seed{seed}-tfidf.jsonl",
                                baseline_recipe("tfidf", {}, config))
    gold, predicted = [r["gold"] for r in rows], [r["predicted"] for r in rows]
    return sum(r["correct"] for r in rows) / len(rows), f1_score(gold, predicted, average="macro")


def table(resamples: int) -> None:
    import statistics

    from gencls_core.stats import paired_bootstrap

    for dataset in DATASETS:
        methods = ["sft", "sft+1", *_rl_methods(dataset), *CONVERGED]
        results = {m: {s: _tested(dataset, s, m) for s in SEEDS} for m in methods}
        if not any(results["sft"].values()):
            continue
        base = {s: r for s, r in results["sft"].items() if r}
        control = {s: r for s, r in results["sft+1"].items() if r}

        def versus(reference: dict[int, Any], done: dict[int, Any]) -> str:
            seeds = [s for s in done if s in reference]
            if not seeds:
                return ""
            diff, low, high = paired_bootstrap([reference[s][1] for s in seeds], [done[s][1] for s in seeds],
                                               resamples=resamples)
            shown = "" if seeds == list(done) else f" (seeds {','.join(map(str, seeds))})"
            return f"{100 * diff:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}]{shown}"

        print(f"\n### {dataset} (test split; mean ± standard deviation over seeds)\n")
        print("| method | seeds | accuracy | macro-F1 | vs SFT, paired 95% interval (points) | vs SFT+1 (the control) "
              "| train s (seed 0) |")
        print("|---|---|---|---|---|---|---|")
        for method in methods:
            done = {s: r for s, r in results[method].items() if r and s in base}
            if not done:
                continue
            acc = [r[0]["accuracy"] for r in done.values()]
            f1 = [r[0]["f1_macro"] for r in done.values()]
            seconds = _train_seconds(dataset, 0, method)
            print(f"| {method} | {','.join(map(str, done))} | {_mean_spread(acc)} | {_mean_spread(f1)} "
                  f"| {versus(base, done) if method != 'sft' else ''} "
                  f"| {versus(control, done) if method not in ('sft', 'sft+1') else ''} "
                  f"| {'n/a' if seconds is None else f'{seconds:.0f}'} |")
        fair = [s for s in SEEDS if all(results[m][s] for m in CONVERGED)]
        if fair:
            diff, low, high = paired_bootstrap([results["sft+2"][s][1] for s in fair],
                                               [results["label-pg@2"][s][1] for s in fair], resamples=resamples)
            print(f"| label-pg@2 minus sft+2 (seeds {','.join(map(str, fair))}) | | | | "
                  f"{100 * diff:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}] | | |")
        tfidf = [_baseline(dataset, s) for s in base]
        print(f"| TF-IDF + logistic regression | {','.join(map(str, base))} | "
              f"{statistics.mean(a for a, _ in tfidf):.3f} | {statistics.mean(f for _, f in tfidf):.3f} | | | |")
        _curves(dataset)


def _mean_spread(values: list[float]) -> str:
    import statistics

    spread = f" ± {statistics.stdev(values):.3f}" if len(values) > 1 else ""
    return f"{statistics.mean(values):.3f}{spread}"


def _curves(dataset: str) -> None:
    """Reward and KL per step of every RL stage of seed 0, beside the validation accuracy before and after."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    labels, accuracy = [], []
    for method in ["sft", "sft+1", *_rl_methods(dataset)]:
        value = _validation(dataset, 0, method)
        if value is not None:
            labels.append(method)
            accuracy.append(value)
        history = KEPT / dataset / f"seed0-{method}" / "stages" / f"1-{RL.get(method, RL['label-pg'])['name']}"
        if method in ("sft", "sft+1") or not (history / "log_history.json").is_file():
            continue
        log = json.loads((history / "log_history.json").read_text())
        for ax, key in zip(axes[:2], ("reward", "kl")):
            points = [(h["step"], h[key]) for h in log if h.get(key) is not None and "step" in h]
            ax.plot([p[0] for p in points], [p[1] for p in points], marker=".", label=method)
    for ax, title in zip(axes[:2], ("mean reward (label-match)", "KL to the SFT policy")):
        ax.set_xlabel("step")
        ax.set_title(title)
        ax.legend(fontsize=7)
    axes[2].barh(labels, accuracy)
    axes[2].set_xlim(min(accuracy, default=0) - 0.05, max(accuracy, default=1) + 0.02)
    axes[2].set_title("validation accuracy (seed 0)")
    fig.tight_layout()
    out = Path("docs/img") / f"rl-{dataset}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    print(f"\ncurves: {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    go = sub.add_parser("run", help="train and evaluate the cells of one dataset (resumes)")
    go.add_argument("--dataset", choices=sorted(DATASETS), required=True)
    go.add_argument("--phase", choices=["screen", "final", "converged"], required=True,
                    help="screen: seed 0, every method; final: seeds 1 and 2 of SFT and the chosen RL method; "
                         "converged: one more epoch of SFT or of label-pg from the 2-epoch SFT model")
    go.add_argument("--seeds", help="seeds of the final phase (default 1,2) or the converged one (default 0,1,2)")
    go.add_argument("--methods", help="screen only these methods (comma-separated, in the screen's order), e.g. "
                                      "sft,sft+1,label-pg-lr2e-4; the others stay for a later call")
    go.add_argument("--method", help="final phase: carry this screened method to the seeds instead of the best "
                                     "of a finished screen (say so where its numbers are reported)")
    show = sub.add_parser("table", help="print the tables and write docs/img/rl-<dataset>.png")
    show.add_argument("--resamples", type=int, default=2000)
    args = parser.parse_args()
    shutil.rmtree(KEPT, ignore_errors=True)  # this script's own copy of the pack, made afresh
    records.unpack(PACK, KEPT)
    if args.command == "run":
        seeds = args.seeds or ("1,2" if args.phase == "final" else "0,1,2")
        methods = args.methods.split(",") if args.methods else None
        known = {"sft", "sft+1", *_rl_methods(args.dataset)}
        if unknown := sorted(set(methods or ()) - known):
            parser.error(f"--methods: unknown for {args.dataset}: {', '.join(unknown)} "
                         f"(known: {', '.join(sorted(known))})")
        run(args.dataset, args.phase, tuple(int(s) for s in seeds.split(",")), methods, args.method)
    else:
        table(args.resamples)


if __name__ == "__main__":
    main()
