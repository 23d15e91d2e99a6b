"""What a run records: the start of its ``run.json`` record (run_record.py), and ``report.md``."""

from __future__ import annotations

import datetime as _dt
import platform
from importlib.metadata import version as _version
from pathlib import Path
from typing import Any

from gencls_core.baseline import sentences as baseline_sentences
from gencls_core.interfaces import Evaluator, Trainer
from gencls_core.plugins import Plugins
from gencls_core.resolve import Resolution
from gencls_core.results import describe_rare, metrics_table, stage_table
from gencls_core.run_record import RunRecord

MISTAKES = 10  # wrong predictions shown in report.md


def now() -> str:
    return _dt.datetime.now().isoformat(timespec="seconds")


def base_record(resolution: Resolution, plugins: Plugins, device: str) -> RunRecord:
    """The start of ``run.json``: versions, components, plugins and the resolved config."""
    return RunRecord(
        gencls_version=_version("gencls"),
        started=now(),
        seed=resolution.config.seed,
        device=device,
        python=platform.python_version(),
        libraries={lib: _version(lib) for lib in ("torch", "transformers", "datasets", "trl", "peft")},
        components=[s.describe() for s in resolution.all_slots()],
        plugins=[{"name": p.name, "distribution": p.distribution, "version": p.version} for p in plugins.loaded],
        config=resolution.resolved_config(),
    )


def stage_columns(resolution: Resolution) -> list[str]:
    """The stage table's columns: stage and trainer, what the run's trainers and evaluators show per stage
    (their ``stage_metrics``), and the unparseable count."""
    columns = ["stage", "trainer", *(["kept"] if resolution.recipe else [])]
    columns += [f"train_{m}" for slot in resolution.trainers for m in slot.component(Trainer).stage_metrics]
    columns += [m for slot in resolution.evaluators for m in slot.component(Evaluator).stage_metrics]
    return list(dict.fromkeys([*columns, "unparseable"]))


def write_report(resolution: Resolution, record: RunRecord, metrics: dict[str, Any],
                 stages: list[dict[str, Any]], values: list[dict[str, Any] | None], run_dir: Path,
                 rows: list[dict[str, Any]] | None = None) -> str:
    """``report.md``: what ran, the stage table with each stage's training curves, the final scalar metrics,
    each evaluator's section (which may write figures into ``run_dir``), then the most confident mistakes among
    the prediction ``rows``."""
    slots = record.slots()
    lines = [f"# gencls run {run_dir.name}", "",
             f"model `{slots['model']}`, dataset `{slots['dataset']}` ({metrics['n']} test examples), "
             f"prompt `{slots['inference_prompt']}`, labels `{slots['inference_labels']}`, "
             f"decoder `{slots['decoder']}`, seed {record.seed}", ""]
    if stages:
        lines += ["## Stages", "", stage_table(stages, stage_columns(resolution)), ""]
        lines += [f"- stage {s['stage']} chose on validation: it ended with step {s['train_best_step']}'s weights "
                  f"({s['train_best_metric']} {s['train_best_value']:.4f} on the validation split), stopped by "
                  f"{s['train_stopped'].replace('_', ' ')} after {s['train_steps']} steps; curve in "
                  f"`{s.get('train_figure', 'its training.png')}`"
                  for s in stages if s.get("train_best_step") is not None]
        curves = [(s["stage"], f"stages/{s['stage']}-{s['trainer']}/training.png") for s in stages if s["trainer"]]
        lines += [f"\n![stage {i} training curves]({path})" for i, path in curves if (run_dir / path).is_file()]
        if record.recipe is not None:
            lines += ["", f"Recipe `{record.recipe.name}`: every stage above is scored on the **validation** "
                          f"split, which decided what was kept; the final metrics below are the kept model's, on the "
                          f"test split (read once).", ""]
            lines += [f"- stage {c['stage']} ({c['trainer']}): {'kept' if c['kept'] else 'dropped'}: {c['why']}"
                      for c in record.recipe.choices]
            if record.recipe.decoder:
                lines.append(f"- decoder: {record.recipe.decoder['why']}")
            if record.recipe.lexical:
                lines.append(f"- lexical evidence (TF-IDF + logistic regression, weight "
                             f"{record.recipe.lexical['weight']}): {record.recipe.lexical['why']}")
        lines += ["", "## Final metrics", ""] if lines[-1] else ["## Final metrics", ""]
    lines += metrics_table(metrics)
    for sentence in baseline_sentences(metrics, len(rows or [])):
        lines += ["", sentence]
    if metrics.get("rarely_predicted"):
        lines += ["", f"**Warning:** {describe_rare(metrics['rarely_predicted'])}."]
    sections = [slot.build(Evaluator).report(v, run_dir) for slot, v in zip(resolution.evaluators, values)
                if v is not None]
    for section in filter(None, sections):
        lines += ["", section]
    lines += mistakes(rows or [])
    return "\n".join(lines) + "\n"


def mistakes(rows: list[dict[str, Any]], n: int = MISTAKES, width: int = 160) -> list[str]:
    """The ``n`` wrong predictions the model was surest of (by its probability of the label it gave), as a
    markdown table; none when there are none."""
    wrong = [r for r in rows if r.get("predicted") is not None and not r.get("correct", r["predicted"] == r["gold"])]
    wrong.sort(key=lambda r: -_sureness(r))
    if not wrong:
        return []
    lines = ["", f"## The {min(n, len(wrong))} most confident mistakes (of {len(wrong)})", "",
             "| text | gold | predicted | p(predicted) |", "|---|---|---|---|"]
    for r in wrong[:n]:
        text = " ".join(str(r.get("text", "")).split())
        text = (text[:width] + "…" if len(text) > width else text).replace("|", "\\|")
        p = _sureness(r) if r.get("probs") else None
        gold, predicted = (", ".join(x) if isinstance(x, list) else x for x in (r["gold"], r["predicted"]))
        lines.append(f"| {text} | {gold} | {predicted} | {'' if p is None else f'{p:.3f}'} |")
    return lines


def _sureness(row: dict[str, Any]) -> float:
    """The probability of the predicted label (of a predicted label set: its least probable label; 0 for the
    empty set)."""
    probs, predicted = row.get("probs") or {}, row["predicted"]
    if isinstance(predicted, list):
        return min((probs.get(c, 0.0) for c in predicted), default=0.0)
    return probs.get(predicted, 0.0)
