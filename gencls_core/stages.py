"""A run's training stages: each trainer in turn, each followed by an evaluation; finished stages are loaded
instead of run again when a run resumes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gencls_core.config import read_config_file
from gencls_core.errors import ConfigError, ContractError
from gencls_core.inference import Evaluation, Inference
from gencls_core.interfaces import Recipe, RunContext, StageResult, Trainer, Validation
from gencls_core.resolve import Resolution, Slot
from gencls_core.results import read_jsonl, scalar_metrics, write_json, write_jsonl
from gencls_core.run_record import RunRecord, RunRecorder
from gencls_core.timing import timed
from gencls_core.verbosity import library_bars, library_notices_off
from gencls_core.weights import load_trained, save_trained


def run_stages(resolution: Resolution, ctx: RunContext, inference: Inference, recorder: RunRecorder,
               timings: dict[str, float], resuming: bool,
               reload: Callable[[Path | None], None]) -> tuple[Evaluation, list[dict[str, Any]]]:
    """Stage 0 (untrained) when asked for, then each trainer followed by an evaluation; the last evaluation and
    one summary row per stage.

    Each stage writes ``stages/<i>-<trainer>/`` (``model/``, ``predictions.jsonl``, ``stage.json``; the main
    process only, when there are several); when resuming, stages with a ``stage.json`` are loaded instead of run
    again. ``run.json`` is rewritten after each.

    With a recipe, every stage is evaluated on the validation split, and the recipe decides from it whether the
    stage's model is kept or the model before it is put back (``reload``: the run's starting model with a kept
    stage's model folder applied, or none); the test split is read once, by the final evaluation of the kept
    model. The choices go to each stage's ``stage.json`` and to ``run.json``'s ``recipe``.
    """
    recipe = resolution.recipe.build(Recipe) if resolution.recipe else None
    plan: list[tuple[int, Slot | None]] = [(0, None)] if resolution.config.evaluate_untrained else []
    plan += list(enumerate(resolution.trainers, 1))
    stages, evaluation, main = [], None, inference.processes.is_main
    kept_dir: Path | None = None  # with a recipe: the model folder of the last stage it kept (None: the start)
    kept: Evaluation | None = None  # ... and that model's validation evaluation, once known
    for i, slot in plan:
        stage_dir = ctx.folder() / "stages" / f"{i}-{slot.entry.name if slot else 'untrained'}"
        done = stage_dir / "stage.json"
        if resuming and done.is_file():
            row = read_config_file(done)
            if slot:
                ctx.lm, ctx.trained = load_trained(ctx.loaded_lm(), stage_dir / "model"), True
            rows = read_jsonl(stage_dir / "predictions.jsonl")
            evaluation = Evaluation(row["metrics"], row["evaluator_values"], rows)
        else:
            result: StageResult | None = None
            if slot:
                if recipe and kept is None:  # the model this stage starts from, on validation, to compare with
                    kept = _on_validation(inference, timings, recorder.record)
                validate = inference.validate if "validation" in ctx.loaded_data().splits else None
                stage = replace(ctx, stage_dir=stage_dir, resume=resuming, validate=validate)  # the stage's own
                with timed(timings, f"train:{slot.path}"):
                    result = _trained(slot, stage)
                ctx.lm, ctx.trained = result.model, True
                if main:
                    save_trained(ctx.loaded_lm(), stage_dir / "model")
            if recipe:  # each model at its own threshold
                evaluation = _on_validation(inference, timings, recorder.record)
            else:
                choose_set_threshold(inference, timings, recorder.record)
                evaluation = inference.evaluate_split(timings)
            if result is not None and result.report is not None:
                result.report(scalar_metrics(evaluation.metrics))
            row = {"stage": i, "trainer": slot.entry.name if slot else None,
                   "train": dict(result.summary) if result else {},
                   "metrics": evaluation.metrics, "evaluator_values": evaluation.values}
            if recipe and slot and kept is not None:  # kept: the starting model, evaluated before the stage trained
                keep, why = recipe.keep(i, slot.entry.name, _validation(kept, ctx), _validation(evaluation, ctx))
                row["recipe"] = {"kept": keep, "why": why}
            if main:
                write_jsonl(stage_dir / "predictions.jsonl", evaluation.rows)
                write_json(done, row)
            inference.processes.wait()  # the stage's files exist for every process
        choice = row.get("recipe")
        if choice and not choice["kept"]:
            reload(kept_dir)
        elif slot:
            kept_dir, kept = stage_dir / "model", evaluation
        elif recipe:
            kept = evaluation  # stage 0: the starting model on the validation split
        record = recorder.record
        record.trained_model = None if kept_dir is None else str(kept_dir.relative_to(ctx.folder()))
        if choice and record.recipe is not None:
            record.recipe.choices.append({"stage": i, "trainer": row["trainer"], **choice})
        stages.append({"stage": i, "trainer": row["trainer"], **({"kept": choice["kept"]} if choice else {}),
                       **_train_scalars(row["train"]), **scalar_metrics(row["metrics"])})
        recorder.save(stages=stages)
    if evaluation is None:
        raise ValueError("run_stages needs at least one stage (a trainer, or evaluate_untrained)")
    if recipe:  # the kept model, on the test split: the one read of it
        decoded = None  # the kept model's validation predictions, unless the recipe changes the decoder
        if kept is not None:
            if not _choose_decoder(recipe, inference, _validation(kept, ctx), ctx, recorder.record):
                decoded = ([r["gold"] for r in kept.rows], [r["probs"] for r in kept.rows])
            elif not ctx.loaded_data().multi_label:  # the kept model's validation scores under the chosen decoder
                kept = inference.evaluate_split(timings, "validation")
            _choose_lexical(recipe, inference, kept, ctx, recorder.record)
        choose_set_threshold(inference, timings, recorder.record, decoded)  # its threshold, from them
        evaluation = inference.evaluate_split(timings)
    return evaluation, stages


def choose_set_threshold(inference: Inference, timings: dict[str, float], record: RunRecord,
                         validation: tuple[list[Any], list[Any]] | None = None) -> None:
    """Multi-label data: the label threshold chosen on the validation split for the current model (from
    ``validation``'s gold sets and probabilities when given; never when the evaluated split is the validation
    split itself), recorded in ``run.json``'s config for ``predict``."""
    if inference.resolution.config.splits.evaluate == "validation":
        return
    _record_threshold(inference.choose_set_threshold(timings, validation), record)


def _on_validation(inference: Inference, timings: dict[str, float], record: RunRecord) -> Evaluation:
    """A recipe's evaluation of the current model on the validation split; multi-label sets decided at the
    threshold chosen on it (recorded; not when the run's evaluated split is the validation split itself)."""
    config = inference.resolution.config
    here = config.splits.evaluate != "validation"
    evaluation = inference.evaluate_split(timings, "validation", set_threshold_here=here)
    if here and config.label_sets.threshold is None:  # a configured one is in the config already
        _record_threshold(inference.set_threshold, record)
    return evaluation


def _record_threshold(chosen: float | dict[str, float] | None, record: RunRecord) -> None:
    if chosen is not None:
        record.config.setdefault("label_sets", {})["threshold"] = chosen


def _choose_decoder(recipe: Recipe, inference: Inference, kept: Validation, ctx: RunContext,
                    record: RunRecord) -> bool:
    """The recipe's decoder options for the kept model, applied to the inference that reads the test split and
    written into ``run.json``'s config (what ``predict``, ``serve`` and ``export`` read), with the reason;
    whether it changed the decoder."""
    slot = inference.resolution.slots["decoder"]
    options, why = recipe.decoder(slot.entry.name, kept, ctx.loaded_data())
    if options:
        try:
            chosen = replace(slot, options=slot.entry.component.Config.model_validate(
                {**slot.options.model_dump(), **options}))
        except ValidationError as err:
            raise ConfigError(f"recipe {recipe.name!r} chose decoder options {sorted(options)} that {slot.who()} "
                              f"does not take ({err.errors()[0]['msg']}); use a decoder it knows") from err
        inference.use_decoder(chosen)
        record.config["decoder"] = chosen.spec()
    if record.recipe is not None:
        record.recipe.decoder = {"options": options, "why": why}
    return bool(options)


def _choose_lexical(recipe: Recipe, inference: Inference, kept: Evaluation, ctx: RunContext,
                    record: RunRecord) -> None:
    """The recipe's weight of the bag of words in the kept model's label scores (``gencls_core/lexical.py``),
    chosen from that model's validation predictions ``kept`` (one label per text, with scores, and no weight in the
    config), applied to the inference that reads the test split and written into ``run.json``'s config."""
    validation, configured = _validation(kept, ctx), inference.resolution.config.lexical
    if validation.multi_label or validation.scores is None or configured.weight:
        if configured.weight and record.recipe is not None:
            record.recipe.lexical = {"weight": configured.weight, "why": "the weight set in the config"}
        return
    bag = inference.bag()
    texts = ctx.loaded_data().splits["validation"]["text"]
    rows = [dict(zip(validation.labels, r)) for r in bag.log_probs(texts, validation.labels)]
    weight, why = recipe.lexical(validation, rows)
    if not 0 <= weight < 1:
        raise ContractError(f"recipe {recipe.name!r} chose lexical weight {weight}; a weight is in [0, 1)")
    if weight:
        inference.use_lexical(weight)
        record.config["lexical"] = {"weight": weight, "C": bag.chosen["C"]}
    if record.recipe is not None:
        record.recipe.lexical = {"weight": weight, "C": bag.chosen["C"], "why": why}


def _trained(slot: Slot, ctx: RunContext) -> StageResult:
    """Run the slot's trainer (the libraries' bars off without ``progress``, their deprecation notices off);
    what it returns must be a ``StageResult``."""
    with library_bars(ctx.progress), library_notices_off():
        result = slot.build(Trainer).train(ctx)
    if not isinstance(result, StageResult):
        raise ContractError(f"trainer {slot.entry.name!r} ({slot.path}) returned {type(result).__name__}; a "
                            f"trainer returns StageResult(model=<the trained LoadedModel>, summary={{...}})")
    return result


def _validation(evaluation: Evaluation, ctx: RunContext) -> Validation:
    """What a recipe sees of a validation evaluation: gold and predicted class names."""
    rows = evaluation.rows
    scores = [r["scores"] for r in rows if isinstance(r.get("scores"), dict)]
    data = ctx.loaded_data()
    return Validation([r["gold"] for r in rows], [r["predicted"] for r in rows], data.labels,
                      scores if len(scores) == len(rows) else None, data.multi_label)


def _train_scalars(summary: dict[str, Any]) -> dict[str, Any]:
    """A trainer summary's numbers, prefixed ``train_`` unless they already are."""
    return {k if k.startswith("train_") else f"train_{k}": v for k, v in scalar_metrics(summary).items()}
