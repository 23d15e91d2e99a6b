"""Do preference methods make a classifier robust to noisy training labels? (issue 36)

    python benchmarks/noise.py run --corpus rotten-tomatoes@0.2 --seeds 0 --methods screen:sft,screen:sft+dpo
    python benchmarks/noise.py run --corpus rotten-tomatoes@0.2 --seeds 0,1,2 --methods sft,sft+rdpo-est
    python benchmarks/noise.py table [--plot docs/img/noise.png]   # the plot: clean test accuracy vs noise

Corpora: Rotten Tomatoes (2 classes) and TREC questions by their 6 coarse answer types, each with 0%, 20% or 40%
of the training labels flipped uniformly to another class (``splits.train_label_noise``, seeded; validation and
test labels stay clean): ``<corpus>@<noise>``. The same seeded splits for every method (500 train / 100
validation / 500 test). Methods:
- ``sft``: SFT chosen on validation (up to three epochs at lr 1e-3, macro-F1 on the validation split every 16
  steps, patience 3, the best checkpoint kept);
- ``sft+<stage>``: that seed's ``sft`` model (``start_from``), then one more stage: ``label-pg`` (the recipe's
  RL stage), ``dpo`` (DPO on the hardest wrong label), ``rdpo-true`` (rDPO with the true flip rate), ``rdpo-est``
  (rDPO with the flip rate estimated from the validation split: ``flip_rate: estimate``), ``rpo`` (DPO + the SFT
  loss, weight 1), ``rso`` (SLiC's hinge loss on RSO's rejection-sampled pairs), ``sft`` (the control: one more
  SFT epoch on the same noisy labels and settings, no preference term: what RPO's gain must beat, since RPO adds
  the SFT loss); ``sft+<stage>@<rate>``: a
  preference stage at another learning rate than its 5e-5 (one epoch at 5e-5 barely moves a LoRA policy: a
  chosen-minus-rejected reward margin of 0.05 on Rotten Tomatoes), the rate chosen by screening.

``screen:<method>`` runs a method on the validation split instead (one seed: to choose which preference method
gets seeds on the test split; the SFT stage's early stopping reads the same split, so screening ranks methods,
it does not estimate their accuracy). A cell is one normal run under ``runs/noise/``; records go to
``benchmarks/results/noise.jsonl`` (benchmarks/cells.py: resumable, one heavy job at a time; a timing beside
another job is void). ``table`` compares every method with ``sft`` at the same noise level (paired bootstrap 95%
intervals).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cells import Record, accuracy_interval, encode, engine_for, main, plot

RECORDS = Path("benchmarks/results/noise.jsonl")
ROOT = Path("runs/noise")
SPLITS = {"train_size": 500, "validation_size": 100, "test_size": 500}
DATA = {"rotten-tomatoes": {"dataset": "movie-reviews"},
        "trec-coarse": {"dataset": {"name": "trec-questions", "level": "coarse"}}}
NOISE = (0.0, 0.2, 0.4)
CORPORA = [f"{name}@{noise}" for name in DATA for noise in NOISE]
SFT = {"name": "sft", "epochs": 3, "learning_rate": 1e-3, "best_metric": "f1_macro", "patience": 3, "eval_steps": 16}
DPO = {"name": "dpo", "epochs": 1, "learning_rate": 5e-5}


def second_stage(method: str, noise: float) -> dict[str, Any]:
    """The stage ``sft+<method>`` adds after SFT."""
    return {"label-pg": {"name": "label-pg"},
            "dpo": DPO,
            "rdpo-true": {**DPO, "loss": "robust", "flip_rate": min(noise, 0.45)},
            "rdpo-est": {**DPO, "loss": "robust", "flip_rate": "estimate"},
            "rpo": {**DPO, "sft_weight": 1.0},
            "rso": {**DPO, "loss": "hinge", "pairs": "rso"},
            "sft": {"name": "sft", "epochs": 1, "learning_rate": DPO["learning_rate"]}}[method]


STAGES = ("label-pg", "dpo", "rdpo-true", "rdpo-est", "rpo", "rso", "sft")
RATES = ("5e-4",)  # preference stages also screened at these learning rates: sft+<stage>@<rate>
TESTED = ("sft", *(f"sft+{s}" for s in STAGES), *(f"sft+{s}@{r}" for s in STAGES[1:] for r in RATES))
METHODS = (*TESTED, *(f"screen:{m}" for m in TESTED))


def _config(corpus: str, seed: int, method: str) -> dict[str, Any]:
    name, noise = corpus.split("@")
    screen = method.startswith("screen:")
    base = method.removeprefix("screen:")
    splits = {**SPLITS, "train_label_noise": float(noise), "evaluate": "validation" if screen else "test"}
    config = {**DATA[name], "splits": splits, "seed": seed, "progress": False, "output_dir": str(ROOT / corpus),
              "run_name": f"{method.replace(':', '-')}-s{seed}"}
    if base == "sft":
        return {**config, "trainers": [SFT]}
    sft_run = ROOT / corpus / f"{'screen-' if screen else ''}sft-s{seed}"
    stage, _, rate = base.removeprefix("sft+").partition("@")
    trainer = {**second_stage(stage, float(noise)), **({"learning_rate": float(rate)} if rate else {})}
    return {**config, "start_from": str(sft_run), "trainers": [trainer]}


def run_cell(corpus: str, seed: int, method: str) -> Record:
    result = engine_for(_config(corpus, seed, method)).run()
    record = json.loads((result.run_dir / "run.json").read_text())
    summary = {k: v for k, v in result.stages[-1].items() if k.startswith("train_")} if result.stages else {}
    return encode(corpus, seed, method, record["data"]["labels"], [r["gold"] for r in result.predictions],
                  [r["predicted"] for r in result.predictions], summary, record["timings"]["total"])


def accuracy_vs_noise(records: list[Record], methods: Sequence[str], path: Path) -> None:
    """Clean test accuracy against the flipped fraction, one line per method with its bootstrap 95% interval over
    test examples and seeds, one panel per corpus; screening records (validation) are left out, or drawn as the
    generic bars when there is nothing else."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    tested = [r for r in records if not r["method"].startswith("screen:")]
    if not tested:
        plot(records, methods, path)
        return
    names = [name for name in DATA if any(r["corpus"].startswith(f"{name}@") for r in tested)]
    present = [m for m in methods if m in TESTED and any(r["method"] == m for r in tested)]
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.4), squeeze=False)
    for ax, name in zip(axes[0], names):
        for shift, method in enumerate(present):
            points = []
            for noise in NOISE:
                mine = [r for r in tested if r["corpus"] == f"{name}@{noise}" and r["method"] == method]
                if mine:
                    points.append((noise, *accuracy_interval(mine)))
            if points:
                x, y, low, high = map(np.array, zip(*points))
                ax.errorbar(x + 0.006 * shift, y, yerr=[y - low, high - y], marker="o", capsize=3, label=method,
                            color=f"C{shift}")  # one colour per method in every panel
        ax.set_title(name)
        ax.set_xlabel("training labels flipped")
        ax.set_ylabel("clean test accuracy (95% CI)")
        ax.set_xticks(NOISE)
        ax.set_xlim(-0.05, max(NOISE) + 0.05)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"wrote {path}")


if __name__ == "__main__":
    main(__doc__, RECORDS, CORPORA, METHODS, ("sft", "screen:sft"), run_cell, accuracy_vs_noise)
