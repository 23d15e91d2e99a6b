"""A run's training stages: each trainer in turn, each followed by an evaluation; finished stages are loaded
instead of run again when a run resumes."""

from __future__ import annotations

from typing import Any

from gencls_core.config import read_config_file
from gencls_core.inference import Evaluation, Inference
from gencls_core.interfaces import RunContext
from gencls_core.resolve import Resolution, Slot
from gencls_core.results import read_jsonl, scalar_metrics, write_json, write_jsonl
from gencls_core.timing import timed
from gencls_core.weights import load_trained, save_trained


def run_stages(resolution: Resolution, ctx: RunContext, inference: Inference, record: dict[str, Any],
               timings: dict[str, float], resuming: bool) -> tuple[Evaluation, list[dict[str, Any]]]:
    """Stage 0 (untrained) when asked for, then each trainer followed by an evaluation; the last evaluation and
    one summary row per stage.

    Each stage writes ``stages/<i>-<trainer>/`` (``model/``, ``predictions.jsonl``, ``stage.json``; the main
    process only, when there are several); when resuming, stages with a ``stage.json`` are loaded instead of run
    again. ``run.json`` is rewritten after each.
    """
    plan: list[tuple[int, Slot | None]] = [(0, None)] if resolution.config.evaluate_untrained else []
    plan += list(enumerate(resolution.trainers, 1))
    stages, evaluation, main = [], None, inference.processes.is_main
    for i, slot in plan:
        stage_dir = ctx.run_dir / "stages" / f"{i}-{slot.entry.name if slot else 'untrained'}"
        done = stage_dir / "stage.json"
        if resuming and done.is_file():
            row = read_config_file(done)
            if slot:
                ctx.lm, ctx.trained = load_trained(ctx.lm, stage_dir / "model"), True
            evaluation = (row["metrics"], row["evaluator_values"], read_jsonl(stage_dir / "predictions.jsonl"))
        else:
            train: dict[str, Any] = {}
            if slot:
                ctx.stage_dir, ctx.resume = stage_dir, resuming
                ctx.validate = inference.validate if "validation" in ctx.data.splits else None
                with timed(timings, f"train:{slot.path}"):
                    train = slot.build().train(ctx) or {}
                ctx.trained = True
                if main:
                    save_trained(ctx.lm, stage_dir / "model")
            evaluation = inference.evaluate_split(timings)
            if slot and ctx.report is not None:
                ctx.report(scalar_metrics(evaluation[0]))
            ctx.report = None
            row = {"stage": i, "trainer": slot.entry.name if slot else None, "train": train,
                   "metrics": evaluation[0], "evaluator_values": evaluation[1]}
            if main:
                write_jsonl(stage_dir / "predictions.jsonl", evaluation[2])
                write_json(done, row)
            inference.processes.wait()  # the stage's files exist for every process
        if slot:
            record["trained_model"] = str((stage_dir / "model").relative_to(ctx.run_dir))
        stages.append({"stage": i, "trainer": row["trainer"], **_train_scalars(row["train"]),
                       **scalar_metrics(row["metrics"])})
        if main:
            write_json(ctx.run_dir / "run.json", {**record, "status": "running", "stages": stages})
    return evaluation, stages


def _train_scalars(summary: dict[str, Any]) -> dict[str, Any]:
    """A trainer summary's numbers, prefixed ``train_`` unless they already are."""
    return {k if k.startswith("train_") else f"train_{k}": v for k, v in scalar_metrics(summary).items()}
