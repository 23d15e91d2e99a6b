"""Which cells share training, the run config each cell executes, and a rough cost before anything runs.

Two cells share training when their resolved configs agree on everything training reads (model, data,
splits, training labels and prompt, rewards, seed, ...). A cell whose trainers extend another's (the same
stages first) starts from that cell's trained model and runs only the extra stages (SFT -> GRPO reuses SFT);
a cell with the same trainers as an earlier one only evaluates that cell's model (inference-only variants).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gencls_core.study.spec import Cell, Study

# resolved-config keys that do not change what training produces
INFERENCE_ONLY = ("inference_prompt", "inference_labels", "decoder", "evaluators", "evaluate_untrained",
                  "run_name", "output_dir", "progress", "device", "label_sets")
# rough costs on 2 CPU cores with SmolLM2-135M, from docs/benchmarks.md: seconds per training example (one
# epoch of LoRA SFT; RL stages cost more), per evaluated example (perplexity decoding) and per generated token
# of an evaluated example (a generating decoder: "think, then answer" took ~1.2 s more per review for 96 tokens)
TRAIN_SECONDS, EVAL_SECONDS, TOKEN_SECONDS = 1.2, 0.25, 0.012


@dataclass
class Planned:
    """A cell with what it executes: ``source`` (the cell whose trained model it starts from, or None) and the
    trainers it runs itself (resolved: every option spelled out)."""

    cell: Cell
    source: str | None
    trainers: list[dict[str, Any]]

    def run_config(self, folder: Path) -> dict[str, Any]:
        """The run config this cell executes: its own, with the shared stages replaced by ``start_from``."""
        config = {**self.cell.config, "output_dir": str(folder), "run_name": self.cell.name,
                  "trainers": self.trainers}
        if self.source is not None:
            config["start_from"] = str(folder / self.source)
        return config


def plan(study: Study) -> list[Planned]:
    """Every cell in an order where each source comes before the cells starting from it."""
    owners: dict[str, list[Cell]] = {}  # training key -> cells that train, in grid order
    planned = []
    for cell in sorted(study.cells, key=lambda c: len(c.resolved.get("trainers", []))):
        trainers = cell.resolved.get("trainers", [])
        key = _training_key(cell.resolved)
        source, shared = None, 0
        for other in owners.get(key, []):
            theirs = other.resolved["trainers"]
            if len(theirs) > shared and trainers[:len(theirs)] == theirs:
                source, shared = other.name, len(theirs)
        if trainers and shared < len(trainers):
            owners.setdefault(key, []).append(cell)
        planned.append(Planned(cell, source, trainers[shared:]))
    return planned


def _training_key(resolved: dict[str, Any]) -> str:
    kept = {k: v for k, v in resolved.items() if k not in (*INFERENCE_ONLY, "trainers")}
    kept["splits"] = {k: v for k, v in kept.get("splits", {}).items() if k != "evaluate"}
    return json.dumps(kept, sort_keys=True, default=str)


def estimate_seconds(planned: Planned) -> float:
    """A rough wall time: training examples x epochs of each own stage, plus one evaluation per stage (or one),
    each longer by the tokens a generating decoder may produce."""
    resolved = planned.cell.resolved
    splits = resolved.get("splits", {})
    train, evaluated = _sizes(splits)
    trainers = planned.trainers
    epochs = sum(float(t.get("epochs", 1)) for t in trainers)
    per_example = EVAL_SECONDS + TOKEN_SECONDS * planned.cell.generated_tokens
    return train * epochs * TRAIN_SECONDS + evaluated * max(1, len(trainers)) * per_example


def baseline_seconds(study: Study, cached: Callable[[str, str, str], bool]) -> float:
    """A rough wall time of the baseline fits not yet ``cached(name, column, seed)``: ``seqcls`` trains one LoRA
    epoch and evaluates once per column and seed (``tfidf`` takes seconds)."""
    if "seqcls" not in study.spec.baselines:
        return 0.0
    first: dict[tuple[str, str], Cell] = {}
    for cell in study.cells:
        first.setdefault((study.column(cell), str(cell.values.get("seed", "-"))), cell)
    total = 0.0
    for (column, seed), cell in first.items():
        if not cached("seqcls", column, seed):
            train, evaluated = _sizes(cell.resolved.get("splits", {}))
            total += train * TRAIN_SECONDS + evaluated * EVAL_SECONDS
    return total


def _sizes(splits: dict[str, Any]) -> tuple[int, int]:
    """The training and the evaluated example counts of a resolved ``splits``."""
    evaluated = splits.get("validation_size") if splits.get("evaluate") == "validation" else splits.get("test_size")
    return _count(splits.get("train_size"), 1000), _count(evaluated, 200)


def _count(size: Any, fallback: int) -> int:
    """An example count from a split size (a fraction of an unknown total counts as ``fallback``)."""
    if size is None or (isinstance(size, float) and size < 1):
        return fallback
    return int(size)


def describe(planned: list[Planned]) -> list[str]:
    """One line per cell: what it trains itself and whose model it starts from."""
    lines = []
    for p in planned:
        names = [t["name"] for t in p.trainers]
        what = f"trains {' -> '.join(names)}" if names else "evaluates only"
        start = f" from {p.source}'s model" if p.source else ""
        lines.append(f"{p.cell.name}: {what}{start}; ~{estimate_seconds(p) / 60:.0f} min")
    return lines


def input_problems(planned: list[Planned]) -> list[str]:
    """Load each distinct dataset, split and seed of the cells once, as its first cell's run would (paths, columns,
    labels and split sizes checked before any cell runs), and check that every other file a cell's components
    name (``Component.files``: definitions, a GGUF model, ...) exists; what fails, naming the cells it would fail."""
    import warnings

    from gencls_core.engine import Engine
    from gencls_core.errors import GenclsError, GenclsWarning, not_a_file

    cells: dict[str, list[Planned]] = {}
    for p in planned:
        key = json.dumps({k: p.cell.config.get(k) for k in ("dataset", "splits", "seed")}, sort_keys=True,
                         default=str)
        cells.setdefault(key, []).append(p)
    problems = []
    for group in cells.values():
        try:
            with warnings.catch_warnings():  # a cell's run warns about its data itself
                warnings.simplefilter("ignore", GenclsWarning)
                Engine({**group[0].cell.config, "progress": False}).dataset()
        except GenclsError as err:
            problems.append(f"cell(s) {', '.join(p.cell.name for p in group)}: {err}")
    missing: dict[Path, tuple[str, list[str]]] = {}  # file -> (the first option naming it, the cells)
    for p in planned:
        for option, path in p.cell.files.items():  # the dataset's were checked above
            if not path.is_file():
                names = missing.setdefault(path, (option, []))[1]
                names += [] if p.cell.name in names else [p.cell.name]
    return problems + [f"cell(s) {', '.join(names)}: {option}: {path} {not_a_file(path)}"
                       for path, (option, names) in missing.items()]
