"""Engine: resolve slots -> load data and model -> training stages -> decode -> evaluate -> write results."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import tempfile
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Callable
from importlib.metadata import version as _version
from pathlib import Path
from typing import Any

from gencls_core.chat import render_prompt
from gencls_core.config import RunConfig, build_config, read_config_file
from gencls_core.context import RunContext, resolve_device
from gencls_core.contracts import check_messages, check_metrics, check_predictions
from gencls_core.data import check_labeled_data, make_splits
from gencls_core.errors import ConfigError, GenclsWarning, UsageError
from gencls_core.interfaces import Decoder, LabeledData, LabelScheme, Prediction, PromptStrategy
from gencls_core.plugins import Plugins, load_plugins
from gencls_core.resolve import Resolution, Slot, resolve
from gencls_core.results import (
    RunResult,
    scalar_metrics,
    stage_table,
    write_json,
    write_jsonl,
    write_text_atomic,
)
from gencls_core.rewards import CheckedReward
from gencls_core.truncation import PromptFitter, fitter_for
from gencls_core.weights import load_trained, save_trained

# (metrics, what each evaluator returned, prediction rows)
Evaluation = tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]


class Engine:
    """Build from a RunConfig, a dict or a YAML/JSON file; ``run()`` does the whole job.

    >>> result = Engine({"splits": {"test_size": 50}}).run()   # doctest: +SKIP
    >>> result.metrics["accuracy"], result.run_dir               # doctest: +SKIP
    """

    def __init__(self, config: RunConfig | dict[str, Any] | str | Path | None = None, *,
                 overrides: list[str] | None = None, plugins: Plugins | None = None) -> None:
        self.config = build_config(config, overrides)
        self.plugins = plugins if plugins is not None else load_plugins(self.config.plugins)
        self.resolution: Resolution = resolve(self.config, self.plugins)
        self.recorded: dict[str, Any] = {}  # a recorded run's run.json
        self.run_dir: Path | None = None  # the run's directory (recorded, or created by run())
        self.trained_model: Path | None = None  # the recorded run's last trained model
        self.resuming = False

    @classmethod
    def from_run_dir(cls, run_dir: str | Path, *, plugins: Plugins | None = None,
                     allow_unfinished: bool = False) -> Engine:
        """An engine with the resolved config a run recorded in its ``run.json`` (and its trained model).

        A run that did not finish is refused unless ``allow_unfinished``: then its last finished stage's model
        is used (the untrained model, with a warning, when no stage finished).
        """
        engine = cls._recorded(run_dir, plugins)
        record = engine.recorded
        status = record.get("status")
        if status != "done" and not allow_unfinished:
            why = f" ({record['error']})" if record.get("error") else ""
            raise UsageError(f"{run_dir} has not finished (status {status}{why}), so its model may be untrained or "
                             f"half-trained. Finish it with `gencls run --resume {run_dir}`, or pass "
                             f"--allow-unfinished to use the model of its last finished stage")
        if record.get("trained_model"):
            engine.trained_model = engine.run_dir / record["trained_model"]
            if not engine.trained_model.is_dir():
                raise UsageError(f"{run_dir}: the trained model folder {engine.trained_model} recorded in run.json "
                                 f"is missing; the run directory is incomplete")
        elif record["config"].get("trainers"):
            warnings.warn(f"{run_dir} finished no training stage; using the untrained model", GenclsWarning,
                          stacklevel=2)
        return engine

    @classmethod
    def resume(cls, run_dir: str | Path, *, plugins: Plugins | None = None) -> Engine:
        """An engine that continues an interrupted run in its own directory: finished stages are loaded,
        the interrupted one continues from its last checkpoint."""
        engine = cls._recorded(run_dir, plugins)
        if engine.recorded.get("status") == "done":
            raise UsageError(f"{run_dir} finished already (status done); nothing to resume")
        engine.resuming = True
        return engine

    @classmethod
    def _recorded(cls, run_dir: str | Path, plugins: Plugins | None) -> Engine:
        run_dir = Path(run_dir)
        if not (run_dir / "run.json").is_file():
            raise UsageError(f"{run_dir} is not a gencls run directory (no run.json)")
        record = read_config_file(run_dir / "run.json")
        engine = cls(record["config"], plugins=plugins)
        engine.recorded, engine.run_dir = record, run_dir
        return engine

    # -- the whole job -------------------------------------------------------------------------
    def run(self) -> RunResult:
        cfg = self.config
        started = time.time()
        device = resolve_device(cfg.device)
        self._check_requirements(device)
        if not self.resuming:
            check_writable(cfg.output_dir)
        timings: dict[str, float] = {}
        data = self._load_data(device, timings)  # before the run directory: bad data or splits leave nothing behind
        run_dir = self.run_dir = self.run_dir if self.resuming else self._new_run_dir()
        ctx = RunContext(seed=cfg.seed, device=device, run_dir=run_dir, plugins=self.plugins,
                         progress=cfg.progress, data=data, truncation=cfg.truncation)
        record = self._base_record(device)
        if self.resuming:
            record["started"] = self.recorded.get("started", record["started"])
            record["resumed"] = [*self.recorded.get("resumed", []), _now()]
        record["data"] = {"labels": data.labels, "task": data.task, "source": data.source,
                          "sizes": {k: len(v) for k, v in data.splits.items()}}
        write_json(run_dir / "run.json", {**record, "status": "running"})
        try:
            result = self._run(ctx, record, timings)
        except BaseException as err:
            timings["total"] = round(time.time() - started, 3)
            record.update(status="interrupted" if isinstance(err, KeyboardInterrupt) else "failed",
                          error=f"{type(err).__name__}: {err}" if str(err) else type(err).__name__,
                          traceback=traceback.format_exc(), timings=timings)
            write_json(run_dir / "run.json", record)
            raise
        timings["total"] = round(time.time() - started, 3)
        record.update(status="done", timings=timings, metrics=scalar_metrics(result.metrics), stages=result.stages)
        write_json(run_dir / "run.json", record)
        self.plugins.hook.gencls_run_finished(result=result)
        return result

    def _load_data(self, device: str, timings: dict[str, float]) -> LabeledData:
        """The dataset, checked and split."""
        slots = self.resolution.slots
        with _timer(timings, "load_data"):
            ctx = RunContext(seed=self.config.seed, device=device, run_dir=None, plugins=self.plugins,
                             progress=self.config.progress)
            data = slots["dataset"].build().load(ctx)
            check_labeled_data(data, f"dataset {slots['dataset'].entry.name!r}")
            data.splits = make_splits(data, self.config.splits, self.config.seed)
        return data

    def _run(self, ctx: RunContext, record: dict[str, Any], timings: dict[str, float]) -> RunResult:
        from transformers import set_seed

        slots = self.resolution.slots
        set_seed(self.config.seed)
        with _timer(timings, "load_model"):
            ctx.lm = slots["model"].build().load(ctx)
            ctx.lm.model.to(ctx.device)
        inference = self._prompting("inference_labels", "inference_prompt", ctx)
        if self.resolution.trainers:
            with _timer(timings, "prepare_training"):
                ctx.train_labels = self._label_scheme("labels", ctx)
                ctx.train_labels.prepare_training(ctx)
                record["data"]["train_label_counts"] = dict(Counter(ctx.data.splits["train"]["label"]))
                ctx.train_prompt = self._prompt_strategy("prompt", ctx, ctx.train_labels)
                ctx.rewards = self._rewards(ctx.train_labels)
            evaluation, stages = self._stages(ctx, inference, record, timings)
        else:
            evaluation, stages = self._evaluate_on_test(ctx, inference, timings), []
        metrics, values, rows = evaluation
        if stages:
            metrics = {**metrics, "stages": stages}
        write_jsonl(ctx.run_dir / "predictions.jsonl", rows)
        write_json(ctx.run_dir / "metrics.json", metrics)
        sections = [slot.build().report(v, ctx.run_dir) for slot, v in zip(self.resolution.evaluators, values)]
        sections = [s for s in sections if s]
        write_text_atomic(ctx.run_dir / "report.md", self._report(record, metrics, stages, sections, ctx.run_dir))
        return RunResult(ctx.run_dir, metrics, rows, stages)

    def _stages(self, ctx: RunContext, inference: tuple[LabelScheme, PromptStrategy], record: dict[str, Any],
                timings: dict[str, float]) -> tuple[Evaluation, list[dict[str, Any]]]:
        """Stage 0 (untrained) when asked for, then each trainer followed by an evaluation on the test split.

        Each stage writes ``stages/<i>-<trainer>/`` (``model/``, ``predictions.jsonl``, ``stage.json``); when
        resuming, stages with a ``stage.json`` are loaded instead of run again.
        """
        plan: list[tuple[int, Slot | None]] = [(0, None)] if self.config.evaluate_untrained else []
        plan += list(enumerate(self.resolution.trainers, 1))
        stages, evaluation = [], None
        for i, slot in plan:
            stage_dir = ctx.run_dir / "stages" / f"{i}-{slot.entry.name if slot else 'untrained'}"
            done = stage_dir / "stage.json"
            if self.resuming and done.is_file():
                row = read_config_file(done)
                if slot:
                    ctx.lm = load_trained(ctx.lm, stage_dir / "model")
                evaluation = (row["metrics"], row["evaluator_values"], _read_jsonl(stage_dir / "predictions.jsonl"))
            else:
                train: dict[str, Any] = {}
                if slot:
                    ctx.stage_dir, ctx.resume = stage_dir, self.resuming
                    with _timer(timings, f"train:{slot.path}"):
                        train = slot.build().train(ctx) or {}
                    save_trained(ctx.lm, stage_dir / "model")
                evaluation = self._evaluate_on_test(ctx, inference, timings)
                write_jsonl(stage_dir / "predictions.jsonl", evaluation[2])
                row = {"stage": i, "trainer": slot.entry.name if slot else None, "train": train,
                       "metrics": evaluation[0], "evaluator_values": evaluation[1]}
                write_json(done, row)
            if slot:
                record["trained_model"] = str((stage_dir / "model").relative_to(ctx.run_dir))
            stages.append({"stage": i, "trainer": row["trainer"], **_train_scalars(row["train"]),
                           **scalar_metrics(row["metrics"])})
            write_json(ctx.run_dir / "run.json", {**record, "status": "running", "stages": stages})
        return evaluation, stages

    def _evaluate_on_test(self, ctx: RunContext, inference: tuple[LabelScheme, PromptStrategy],
                          timings: dict[str, float]) -> Evaluation:
        """Decode the evaluation split (``splits.evaluate``: test, or validation while choosing settings) with the
        inference prompt and labels, and evaluate."""
        test = ctx.data.splits[self.config.splits.evaluate]
        started = time.time()
        with _timer(timings, "decode"):
            predictions, truncated = self._decode(ctx, list(test["text"]), *inference)
        seconds = time.time() - started
        gold = list(test["label"])
        metrics, values = self._evaluate(gold, predictions, ctx.data.labels)
        metrics["truncated"] = truncated
        metrics["decode_examples_per_second"] = round(len(gold) / max(seconds, 1e-9), 3)
        rows = [{"text": t, "gold": g, "predicted": p.label, "correct": p.label == g, "status": p.status,
                 "output": p.output, "scores": p.scores, "probs": p.probs}
                for t, g, p in zip(test["text"], gold, predictions)]
        return metrics, values, rows

    # -- inference on new texts ----------------------------------------------------------------
    def predict(self, texts: list[str]) -> list[Prediction]:
        """Classify ``texts`` with the inference prompt, label scheme and decoder.

        Uses the labels, task and trained model recorded by ``from_run_dir``; otherwise loads the dataset to
        learn the labels.
        """
        device = resolve_device(self.config.device)
        self._check_requirements(device)
        ctx = RunContext(seed=self.config.seed, device=device, run_dir=None, plugins=self.plugins,
                         progress=self.config.progress, truncation=self.config.truncation)
        recorded = self.recorded.get("data")  # labels and task of a recorded run
        if recorded and not self.resolution.slots["inference_prompt"].entry.component.uses_train_split:
            ctx.data = LabeledData(splits={}, labels=recorded["labels"], task=recorded["task"])
        else:
            ctx.data = self.resolution.slots["dataset"].build().load(ctx)
            ctx.data.splits = make_splits(ctx.data, self.config.splits, self.config.seed)
        ctx.lm = self.resolution.slots["model"].build().load(ctx)
        ctx.lm.model.to(device)
        if self.trained_model is not None:
            ctx.lm = load_trained(ctx.lm, self.trained_model)
        return self._decode(ctx, texts, *self._prompting("inference_labels", "inference_prompt", ctx))[0]

    def loaded_context(self, device: str, progress: bool) -> RunContext:
        """A context outside any run: the dataset loaded and split, the model loaded onto ``device``."""
        ctx = RunContext(seed=self.config.seed, device=device, run_dir=None, plugins=self.plugins, progress=progress,
                         truncation=self.config.truncation)
        ctx.data = self.resolution.slots["dataset"].build().load(ctx)
        ctx.data.splits = make_splits(ctx.data, self.config.splits, self.config.seed)
        ctx.lm = self.resolution.slots["model"].build().load(ctx)
        ctx.lm.model.to(device)
        return ctx

    def render_prompts(self, texts: list[str] | None = None, n: int = 1) -> list[str]:
        """The inference prompts exactly as the model sees them (chat template applied), for ``texts`` or the
        first ``n`` test examples."""
        ctx = self.loaded_context("cpu", progress=False)
        _, prompt = self._prompting("inference_labels", "inference_prompt", ctx)
        texts = texts or list(ctx.data.splits["test"]["text"][:n])
        render, _ = self._renderer(ctx, prompt)
        return [render(t, f"text {i}") for i, t in enumerate(texts)]

    # -- pieces ------------------------------------------------------------------------------
    def _prompting(self, labels_slot: str, prompt_slot: str, ctx: RunContext) -> tuple[LabelScheme, PromptStrategy]:
        labels = self._label_scheme(labels_slot, ctx)
        return labels, self._prompt_strategy(prompt_slot, ctx, labels)

    def _label_scheme(self, slot: str, ctx: RunContext) -> LabelScheme:
        labels = self.resolution.slots[slot].build()
        labels.ctx = ctx
        labels.setup(ctx.data.labels)
        return labels

    def _prompt_strategy(self, slot: str, ctx: RunContext, labels: LabelScheme) -> PromptStrategy:
        prompt = self.resolution.slots[slot].build()
        prompt.ctx = ctx
        prompt.setup(ctx.data, labels)
        return prompt

    def _decode(self, ctx: RunContext, texts: list[str], labels: LabelScheme,
                prompt: PromptStrategy) -> tuple[list[Prediction], int]:
        """Predictions for ``texts``, and how many of their texts were truncated to fit the model."""
        decoder: Decoder = self.resolution.slots["decoder"].build()
        render, fitter = self._renderer(ctx, prompt)
        ctx.render = render
        prompts = [render(t, f"input {i}") for i, t in enumerate(texts)]
        truncated = fitter.truncated
        if truncated:
            warnings.warn(f"{truncated} of {len(texts)} texts were truncated to fit a {fitter.limit}-token prompt "
                          f"(see truncation in the config)", GenclsWarning, stacklevel=2)
        ctx.lm.model.eval()  # a training stage leaves it in train mode (dropout on)
        predictions = decoder.decode(ctx.lm, prompts, labels, ctx)
        slots = self.resolution.slots
        predictions = check_predictions(slots["decoder"].who(), predictions, len(prompts), labels.labels)
        final = [labels.finalize(p) for p in predictions]
        return check_predictions(slots["inference_labels"].who(), final, len(prompts), ctx.data.labels), truncated

    def _renderer(self, ctx: RunContext, prompt: PromptStrategy) -> tuple[Callable[..., str], PromptFitter]:
        """``render(text, where)``: the inference prompt for ``text`` as the model sees it, fitted to the
        truncation policy (``where`` names the row in errors); and the fitter, which counts the texts it cut."""
        who = self.resolution.slots["inference_prompt"].who()
        fitter = fitter_for(ctx)

        def build(text: str) -> list[dict[str, str]]:
            return check_messages(who, prompt.messages(text), text)

        def render(text: str, where: str = "a content-free input") -> str:
            return render_prompt(ctx.lm.tokenizer, fitter.messages(text, build, where))

        return render, fitter

    def _rewards(self, labels: LabelScheme) -> list[CheckedReward]:
        rewards = []
        for slot in self.resolution.rewards:
            func = slot.build()
            func.setup(labels)
            rewards.append(CheckedReward(func, slot.who(), slot.entry.name, slot.weight))
        return rewards

    def _evaluate(self, gold: list[str], predictions: list[Prediction],
                  labels: list[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """All metrics, and what each evaluator returned (for its ``report.md`` section)."""
        metrics: dict[str, Any] = {"n": len(gold), "unparseable": sum(p.label is None for p in predictions),
                                   "no_label": sum(p.status == "no_label" for p in predictions),
                                   "multiple_labels": sum(p.status == "multiple_labels" for p in predictions),
                                   "abstained": sum(p.status == "abstained" for p in predictions)}
        all_values = []
        for slot in self.resolution.evaluators:
            values = check_metrics(slot.who(), slot.build().evaluate(gold, predictions, labels))
            metrics.update(values)
            all_values.append(values)
        return metrics, all_values

    def _report(self, record: dict[str, Any], metrics: dict[str, Any], stages: list[dict[str, Any]],
                sections: list[str], run_dir: Path) -> str:
        """``report.md``: what ran, the stage table, the final scalar metrics, then each evaluator's section."""
        slots = {c["slot"]: c["name"] for c in record["components"]}
        lines = [f"# gencls run {run_dir.name}", "",
                 f"model `{slots['model']}`, dataset `{slots['dataset']}` ({metrics['n']} test examples), "
                 f"prompt `{slots['inference_prompt']}`, labels `{slots['inference_labels']}`, "
                 f"decoder `{slots['decoder']}`, seed {record['seed']}", ""]
        if stages:
            lines += ["## Stages", "", stage_table(stages), "", "## Final metrics", ""]
        lines += ["| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v:.4f} |" if isinstance(v, float) else f"| {k} | {v} |"
                  for k, v in scalar_metrics(metrics).items()]
        for section in sections:
            lines += ["", section]
        return "\n".join(lines) + "\n"

    def _check_requirements(self, device: str) -> None:
        for slot in self.resolution.all_slots():
            if "cuda" in slot.entry.component.requires and device != "cuda":
                raise UsageError(f"{slot.path} {slot.entry.name!r} needs a CUDA GPU, but the device is {device}")

    def _new_run_dir(self) -> Path:
        """A new run directory, claimed atomically: two runs never share one (a named one that exists and is
        not empty is refused; an automatic name tries the next suffix)."""
        cfg = self.config
        slots = self.resolution.slots
        if cfg.run_name:
            run_dir = cfg.output_dir / cfg.run_name
            if not _claim(run_dir, allow_empty=True):
                raise ConfigError(f"run directory {run_dir} already exists and is not empty (or another run is "
                                  f"using it); choose another run_name or remove it")
            return run_dir
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        base = cfg.output_dir / f"{stamp}-{slots['dataset'].entry.name}-{slots['model'].entry.name}"
        run_dir, n = base, 1
        while not _claim(run_dir, allow_empty=False):
            n += 1
            run_dir = base.with_name(f"{base.name}-{n}")
        return run_dir

    def _base_record(self, device: str) -> dict[str, Any]:
        return {
            "gencls_version": _version("gencls"),
            "started": _now(),
            "seed": self.config.seed,
            "device": device,
            "python": platform.python_version(),
            "libraries": {lib: _version(lib) for lib in ("torch", "transformers", "datasets", "trl", "peft")},
            "components": [s.describe() for s in self.resolution.all_slots()],
            "plugins": [{"name": p.name, "distribution": p.distribution, "version": p.version}
                        for p in self.plugins.loaded],
            "config": self.resolution.resolved_config(),
        }


def _now() -> str:
    return _dt.datetime.now().isoformat(timespec="seconds")


def check_writable(folder: Path) -> None:
    """Create ``folder`` if needed and check a file can be written in it, before any work is done."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".gencls-write-check-"):
            pass
    except OSError as err:
        raise UsageError(f"output_dir {folder} is not writable ({err.strerror or err}); choose another "
                         f"output_dir") from None


def _claim(run_dir: Path, allow_empty: bool) -> bool:
    """Create ``run_dir`` and its ``run.json`` exclusively; False when another run has it (or, unless
    ``allow_empty``, when the folder exists at all)."""
    try:
        run_dir.mkdir(parents=True)
    except FileExistsError:
        if not allow_empty or not run_dir.is_dir() or any(run_dir.iterdir()):
            return False
    except OSError as err:
        raise UsageError(f"cannot create run directory {run_dir} ({err.strerror or err})") from None
    try:
        os.close(os.open(run_dir / "run.json", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    except FileExistsError:
        return False
    return True


def _train_scalars(summary: dict[str, Any]) -> dict[str, Any]:
    """A trainer summary's numbers, prefixed ``train_`` unless they already are."""
    return {k if k.startswith("train_") else f"train_{k}": v for k, v in scalar_metrics(summary).items()}


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class _timer:
    """Adds the seconds spent in a ``with`` block to ``timings[key]``."""

    def __init__(self, timings: dict[str, float], key: str) -> None:
        self.timings, self.key = timings, key

    def __enter__(self) -> None:
        self.start = time.time()

    def __exit__(self, *exc: object) -> None:
        self.timings[self.key] = round(self.timings.get(self.key, 0.0) + time.time() - self.start, 3)
