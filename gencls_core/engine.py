"""Engine: resolve slots -> load data and model -> training stages -> decode -> evaluate -> write results.

The pieces live beside it: ``inference.py`` (the one inference path), ``stages.py`` (training stages and
resume), ``run_record.py`` (``run.json``, one typed record and its one writer), ``report.py`` (the record's
start and ``report.md``), ``rundir.py`` (run directories).
"""

from __future__ import annotations

import errno
import time
import traceback
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

from gencls_core.baseline import compare as compare_with_baseline
from gencls_core.baseline import compare_at_budget
from gencls_core.config import RunConfig, build_config, read_config_file
from gencls_core.data import label_counts
from gencls_core.devices import resolve_device
from gencls_core.distributed import Processes
from gencls_core.errors import ConfigError, GenclsWarning, UsageError
from gencls_core.inference import Inference, Predictor, label_scheme, load_data, load_model, prompt_strategy
from gencls_core.interfaces import (
    Decoder,
    LabeledData,
    LabelScheme,
    LoadedModel,
    Prediction,
    PromptStrategy,
    Recipe,
    Reward,
    RewardFunc,
    RunContext,
    Trainer,
)
from gencls_core.lexical import contribution as lexical_contribution
from gencls_core.plugins import Plugins, load_plugins
from gencls_core.report import base_record, now, stage_columns, write_report
from gencls_core.resolve import Resolution, resolve
from gencls_core.results import RunResult, scalar_metrics, write_json, write_jsonl, write_text_atomic
from gencls_core.rewards import CheckedReward
from gencls_core.run_record import DataRecord, RecipeRecord, RunRecorder
from gencls_core.rundir import check_writable, new_run_dir, recorded_path, release_run_dir, trained_model_of
from gencls_core.services import RunServices
from gencls_core.stages import choose_set_threshold, run_stages
from gencls_core.timing import timed
from gencls_core.verbosity import library_bars
from gencls_core.weights import load_trained, merged

# what predict needs of a run's config (the dataset and splits only for prompts that draw training examples)
INFERENCE_SLOTS = ("seed", "dataset", "splits", "truncation", "long_text", "labels", "prompt", "inference_labels",
                   "inference_prompt", "decoder", "label_sets", "lexical")


def untrusted(config: dict[str, Any], source: Path, trust_remote_code: bool) -> dict[str, Any]:
    """A recorded config as data: a component's ``trust_remote_code: true`` is turned off (with a warning) unless
    the caller passed ``trust_remote_code`` itself."""
    config = dict(config)
    for key, spec in config.items():
        if isinstance(spec, dict) and spec.get("trust_remote_code") is True:
            if trust_remote_code:
                warnings.warn(f"{source} asks {key} to run code from its model folder; running it, as "
                              f"--trust-remote-code allows", GenclsWarning, stacklevel=3)
            else:
                config[key] = {**spec, "trust_remote_code": False}
                warnings.warn(f"{source} asks {key} to run code from its model folder; not honoured (a run "
                              f"directory is data); pass --trust-remote-code if you trust where it came from",
                              GenclsWarning, stacklevel=3)
    return config


def disk_full(err: BaseException) -> bool:
    """Whether ``err`` (or an error it was raised from) is a full disk; libraries such as safetensors only say it
    in their message."""
    cause: BaseException | None = err
    while cause is not None:
        if getattr(cause, "errno", None) == errno.ENOSPC or "No space left on device" in str(cause):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


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
        self._processes: Processes | None = None  # the processes of the current run (set by run())

    @property
    def processes(self) -> Processes:
        """The processes of the current run (known once ``run()`` has started)."""
        if self._processes is None:
            raise RuntimeError("Engine.processes is known once run() has started")
        return self._processes

    @classmethod
    def from_run_dir(cls, run_dir: str | Path, *, plugins: Plugins | None = None, allow_unfinished: bool = False,
                     overrides: list[str] | None = None, trust_remote_code: bool = False,
                     unfinished_hint: str = "pass --allow-unfinished to use the model of its last finished stage",
                     ) -> Engine:
        """An engine with the resolved config a run recorded in its ``run.json`` (and its trained model);
        ``overrides`` (``key=value``) change it for inference, e.g. ``decoder.batch_size=32``. The record is data:
        its paths stay inside ``run_dir`` and its ``trust_remote_code`` is only honoured with ``trust_remote_code``.

        A run that did not finish is refused (the error ends with ``unfinished_hint``) unless
        ``allow_unfinished``: then its last finished stage's model is used (the untrained model, with a warning,
        when no stage finished).
        """
        engine = cls._recorded(run_dir, plugins, overrides, trust_remote_code)
        record = engine.recorded
        status = record.get("status")
        if status != "done" and not allow_unfinished:
            why = f" ({record['error']})" if record.get("error") else ""
            raise UsageError(f"{run_dir} has not finished (status {status}{why}), so its model may be untrained or "
                             f"half-trained. Finish it with `gencls run --resume {run_dir}`, or {unfinished_hint}")
        if record.get("trained_model"):
            engine.trained_model = recorded_path(Path(run_dir), record["trained_model"], "trained_model")
            if not engine.trained_model.is_dir():
                raise UsageError(f"{run_dir}: the trained model folder {engine.trained_model} recorded in run.json "
                                 f"is missing; the run directory is incomplete")
        elif record["config"].get("trainers"):
            warnings.warn(f"{run_dir} finished no training stage; using the untrained model", GenclsWarning,
                          stacklevel=2)
        return engine

    @classmethod
    def from_pretrained(cls, folder: str | Path, *, plugins: Plugins | None = None,
                        overrides: list[str] | None = None, trust_remote_code: bool = False) -> Engine:
        """An engine for ``predict`` from a ``gencls export`` folder: its model, labels, prompt and decoder. The
        folder is data: only the inference settings of its ``gencls.json`` are read, and code in the model folder
        runs only with ``trust_remote_code``."""
        folder = Path(folder)
        if not (folder / "gencls.json").is_file():
            raise UsageError(f"{folder} is not a gencls export (no gencls.json); make one with `gencls export`")
        manifest = read_config_file(folder / "gencls.json")
        missing = [k for k in ("config", "labels", "task") if k not in manifest]
        if missing or not isinstance(manifest["config"], dict):
            raise UsageError(f"{folder / 'gencls.json'} lacks {', '.join(missing) or 'a config mapping'}; it is "
                             f"not a complete gencls export: export the run again")
        config = {k: v for k, v in manifest["config"].items() if k in INFERENCE_SLOTS}  # data, never a model or code
        config["model"] = {"name": "hf", "path": str(folder.resolve()), "trust_remote_code": trust_remote_code}
        if trust_remote_code:
            warnings.warn(f"running code from the model folder {folder}, as --trust-remote-code allows",
                          GenclsWarning, stacklevel=2)
        engine = cls(config, plugins=plugins, overrides=overrides)
        stages = manifest.get("stages", [])  # exports made before "trained" was recorded: a stage with a trainer
        engine.recorded = {"data": {"labels": manifest["labels"], "task": manifest["task"],
                                    "multi_label": manifest.get("multi_label", False)},
                           "metrics": manifest.get("metrics", {}),
                           "trained": manifest.get("trained", any(s.get("trainer") for s in stages))}
        return engine

    @classmethod
    def resume(cls, run_dir: str | Path, *, plugins: Plugins | None = None) -> Engine:
        """An engine that continues an interrupted run in its own directory: finished stages are loaded,
        the interrupted one continues from its last checkpoint."""
        engine = cls._recorded(run_dir, plugins, None)
        if engine.recorded.get("status") == "done":
            raise UsageError(f"{run_dir} finished already (status done); nothing to resume")
        engine.resuming = True
        return engine

    @classmethod
    def _recorded(cls, run_dir: str | Path, plugins: Plugins | None, overrides: list[str] | None,
                  trust_remote_code: bool = False) -> Engine:
        run_dir = Path(run_dir)
        if not (run_dir / "run.json").is_file():
            raise UsageError(f"{run_dir} is not a gencls run directory (no run.json)")
        record = read_config_file(run_dir / "run.json")
        if not isinstance(record.get("config"), dict):
            raise UsageError(f"{run_dir / 'run.json'} has no config mapping: it was not written by gencls run, or "
                             f"was edited; a run directory needs its run.json as the run left it")
        config = untrusted(record["config"], run_dir / "run.json", trust_remote_code)
        engine = cls(config, plugins=plugins, overrides=overrides)
        engine.recorded, engine.run_dir = record, run_dir
        return engine

    # -- the whole job -------------------------------------------------------------------------
    def run(self) -> RunResult:
        cfg = self.config
        started = time.time()
        device = resolve_device(cfg.device)
        self._check_requirements(device)
        processes = self._processes = Processes(device)
        self._check_processes()
        if cfg.start_from is not None:  # before the run directory: a bad start leaves nothing behind
            trained_model_of(cfg.start_from)
        if not self.resuming and processes.is_main:
            check_writable(cfg.output_dir)
        # seconds per phase, summed over the run's attempts (a killed attempt's as of its last finished stage)
        timings: dict[str, float] = dict(self.recorded.get("timings", {})) if self.resuming else {}
        before = timings.pop("total", 0.0)
        progress = cfg.progress and processes.is_main
        ctx = self._context(device, progress, run_dir=None, processes=processes)
        with timed(timings, "load_data"):  # before the run directory: bad data or splits leave nothing behind
            data = ctx.data = load_data(self.resolution, ctx)
        self._check_label_schemes(ctx)
        if self.resolution.recipe is not None:  # its stages follow from the (split) data
            stages = self.resolution.recipe.build(Recipe).stages(data)
            self.resolution = self.resolution.with_stages(stages, self.plugins)
            self._check_processes()
        # one directory for all processes, claimed by the main one
        run_dir = self.run_dir if self.resuming else processes.agree(lambda: new_run_dir(self.resolution))
        if run_dir is None:
            raise RuntimeError("a resumed run needs its directory (Engine.from_run_dir sets it)")
        self.run_dir = run_dir
        ctx = self._context(device, progress, run_dir, processes)  # the run's own: its facts now complete
        ctx.data = data
        record = base_record(self.resolution, self.plugins, device)
        record.processes = {"count": processes.count, "devices": processes.gather(str(processes.state.device))}
        record.timings = timings  # the same dict: every rewrite of run.json carries the phases so far
        if self.resuming:
            record.started = self.recorded.get("started", record.started)
            record.resumed = [*self.recorded.get("resumed", []), now()]
        if self.resolution.recipe is not None:
            record.recipe = RecipeRecord(name=self.resolution.recipe.entry.name,
                                         stages=[t.spec() for t in self.resolution.trainers])
        record.data = DataRecord(labels=data.labels, task=data.task, source=data.source,
                                 sizes={k: len(v) for k, v in data.splits.items()}, checks=data.checks,
                                 flipped_train_labels=data.flipped or None, multi_label=data.multi_label)
        recorder = RunRecorder(run_dir / "run.json", record, write=processes.is_main)
        try:
            recorder.save(status="running")
        except OSError as err:
            if not self.resuming:
                release_run_dir(run_dir, created=not cfg.run_name)
            raise UsageError(f"cannot write {run_dir / 'run.json'} ({err.strerror or err}); free space or choose "
                             f"another output_dir") from err
        try:
            result = self._run(ctx, recorder, timings)
        except BaseException as err:
            timings["total"] = round(before + time.time() - started, 3)
            written = recorder.save_failure("interrupted" if isinstance(err, KeyboardInterrupt) else "failed",
                                            f"{type(err).__name__}: {err}" if str(err) else type(err).__name__,
                                            traceback.format_exc())
            if disk_full(err):
                raise UsageError(f"the disk holding {run_dir} is full ({err}); run.json "
                                 f"{'says failed' if written else 'could not be updated'}. Free space, then "
                                 f"continue with `gencls run --resume {run_dir}`") from err
            raise
        timings["total"] = round(before + time.time() - started, 3)
        result = replace(result, seconds=timings["total"],
                         components={field: slot.entry.name for field, slot in self.resolution.slots.items()})
        recorder.save(status="done", metrics=scalar_metrics(result.metrics), stages=result.stages)
        if processes.is_main:
            self.plugins.hook.gencls_run_finished(result=result)
        processes.wait()  # every process returns once the run's files are complete
        return result

    def _run(self, ctx: RunContext, recorder: RunRecorder, timings: dict[str, float]) -> RunResult:
        from transformers import set_seed

        set_seed(self.config.seed)
        with timed(timings, "load_model"):
            self._load_start(ctx, adapter=True)
        inference = Inference(self.resolution, ctx, self.processes)
        if self.resolution.trainers:
            with timed(timings, "prepare_training"):
                self._prepare_training(ctx)
            if recorder.record.data is not None:
                recorder.record.data.train_label_counts = label_counts(ctx.loaded_data(), "train")
            evaluation, stages = run_stages(self.resolution, ctx, inference, recorder, timings, self.resuming,
                                            reload=lambda model_dir: self._reload(ctx, model_dir))
        else:
            choose_set_threshold(inference, timings, recorder.record)
            evaluation, stages = inference.evaluate_split(timings), []
        metrics, values, rows = evaluation
        data, run_dir = ctx.loaded_data(), ctx.folder()
        metrics = {**metrics, "data_checks": data.checks}
        if stages:
            metrics = {**metrics, "stages": stages}
        train = data.splits.get("train")  # better than a bag of words?
        if self.processes.is_main and train is not None and len(label_counts(data, "train")) > 1:
            with timed(timings, "baseline"):
                metrics["baseline"] = compare_with_baseline(data, rows, self.config.splits.evaluate)
                if metrics.get("truncated"):  # did the cut texts cost the model its lead?
                    metrics["baseline_at_budget"] = compare_at_budget(data, rows, inference.kept,
                                                                      self.config.splits.evaluate)
        weight = inference.resolution.config.lexical.weight
        if self.processes.is_main and weight:  # what the bag of words added to the kept model
            metrics["lexical"] = lexical_contribution(
                rows, inference.bag().log_probs([r["text"] for r in rows], data.labels), weight, data.labels)
        if self.processes.is_main:
            write_jsonl(run_dir / "predictions.jsonl", rows)
            write_json(run_dir / "metrics.json", metrics)
            write_text_atomic(run_dir / "report.md",
                              write_report(self.resolution, recorder.record, metrics, stages, values, run_dir, rows))
        return RunResult(run_dir, metrics, rows, stages, stage_columns(self.resolution))

    # -- inference on new texts ----------------------------------------------------------------
    def predict(self, texts: list[str]) -> list[Prediction]:
        """Classify ``texts`` with the inference prompt, label scheme and decoder.

        Uses the labels, task and trained model recorded by ``from_run_dir``; otherwise loads the dataset to
        learn the labels. Loads the model on each call: ``predictor()`` loads it once.
        """
        return self.predictor()(texts)

    def predictor(self) -> Predictor:
        """Load the model, prompt and labels once; the returned function classifies texts (as ``predict``)."""
        device = resolve_device(self.config.device)
        self._check_requirements(device)
        recorded = self.recorded.get("data")  # labels and task of a recorded run
        needs_train = (self.resolution.slots["inference_prompt"].component(PromptStrategy).uses_train_split
                       or self.resolution.slots["decoder"].build(Decoder).uses_train_split()
                       or self.config.long_text.policy == "select"  # words weighed by the training texts
                       or self.config.lexical.weight > 0)  # the bag of words, fitted on them
        ctx = self._context(device, self.config.progress, run_dir=None)
        if recorded and not needs_train:
            ctx.data = LabeledData(splits={}, labels=recorded["labels"], task=recorded["task"],
                                   multi_label=recorded.get("multi_label", False))
        else:
            ctx.data = load_data(self.resolution, ctx)
        self._load_trained(ctx)
        ctx.lm, ctx.frozen = merged(ctx.loaded_lm()), True  # nothing trains it any more
        return Predictor(Inference(self.resolution, ctx))

    def trained_lm(self, device: str) -> LoadedModel:
        """The run's model with its last trained stage applied (the base model when none)."""
        ctx = self._context(device, self.config.progress, run_dir=None)
        self._load_trained(ctx)
        return ctx.loaded_lm()

    def loaded_context(self, device: str, progress: bool, training: bool = False) -> RunContext:
        """A context outside any run: the dataset loaded and split, the model loaded onto ``device``; with
        ``training``, also what a training stage sees besides (``_prepare_training``)."""
        ctx = self._context(device, progress, run_dir=None)
        ctx.data = load_data(self.resolution, ctx)
        self._load_start(ctx, adapter=True)
        if training:
            self._prepare_training(ctx)
        return ctx

    def dataset(self) -> LabeledData:
        """The dataset, checked and split as a run splits it (no model is loaded)."""
        return load_data(self.resolution, self._context("cpu", self.config.progress, run_dir=None))

    def render_prompts(self, texts: list[str] | None = None, n: int = 1) -> list[str]:
        """The inference prompts exactly as the model sees them (chat template applied), for ``texts`` or the
        first ``n`` test examples."""
        ctx = self.loaded_context("cpu", progress=False)
        texts = texts or list(ctx.loaded_data().splits["test"]["text"][:n])
        render, _ = Inference(self.resolution, ctx).renderer()
        return [render(t, f"text {i}") for i, t in enumerate(texts)]

    # -- pieces ------------------------------------------------------------------------------
    def _context(self, device: str, progress: bool, run_dir: Path | None,
                 processes: Processes | None = None) -> RunContext:
        return RunContext(seed=self.config.seed, device=device, run_dir=run_dir, services=RunServices(self.plugins),
                          progress=progress, truncation=self.config.truncation, long_text=self.config.long_text,
                          processes=processes.count if processes else 1,
                          is_main=processes.is_main if processes else True)

    def _load_trained(self, ctx: RunContext) -> None:
        """The run's model into ``ctx.lm``, with the recorded run's last trained stage applied (an export's model
        is trained already: its manifest says so)."""
        self._load_start(ctx, adapter=self.trained_model is None)
        if self.trained_model is not None:
            with library_bars(ctx.progress):
                ctx.lm, ctx.trained = load_trained(ctx.loaded_lm(), self.trained_model), True
        ctx.trained = ctx.trained or bool(self.recorded.get("trained"))

    def _reload(self, ctx: RunContext, model_dir: Path | None) -> None:
        """Put the run's starting model back into ``ctx.lm``, with a stage's model folder applied (a recipe
        dropping a stage); ``ctx.trained`` says whether it is trained."""
        self._load_start(ctx, adapter=model_dir is None)
        ctx.trained = model_dir is not None or self.config.start_from is not None
        if model_dir is not None:
            with library_bars(ctx.progress):
                ctx.lm = load_trained(ctx.loaded_lm(), model_dir)

    def _load_start(self, ctx: RunContext, adapter: bool) -> None:
        """The model source's model, with ``start_from``'s trained model applied. A start that is a LoRA adapter
        is left out unless ``adapter``: a stage trained on it continued that adapter, so the stage's saved adapter
        holds it already (a full-weight start is always loaded: a later adapter sits on it)."""
        load_model(self.resolution, ctx)
        if self.config.start_from is not None:
            start = trained_model_of(self.config.start_from)
            if adapter or not (start / "adapter_config.json").is_file():
                with library_bars(ctx.progress):
                    ctx.lm, ctx.trained = load_trained(ctx.loaded_lm(), start, same_base=False), True

    def _prepare_training(self, ctx: RunContext) -> None:
        """The training label scheme (its ``prepare_training`` applied to the training split, e.g. relabelling),
        the training prompt and the rewards, onto ``ctx``."""
        labels = ctx.train_labels = label_scheme(self.resolution, "labels", ctx)
        labels.prepare_training(ctx)
        ctx.train_prompt = prompt_strategy(self.resolution, "prompt", ctx, labels)
        ctx.rewards = self._rewards(labels)

    def _rewards(self, labels: LabelScheme) -> list[Reward]:
        rewards: list[Reward] = []
        for slot in self.resolution.rewards:
            func = slot.build(RewardFunc)
            func.setup(labels)
            weight = 1.0 if slot.weight is None else slot.weight
            rewards.append(CheckedReward(func, slot.who(), slot.entry.name, weight))
        return rewards

    def _check_label_schemes(self, ctx: RunContext) -> None:
        """Set the label schemes up on the dataset's classes before the run directory exists, so that classes
        they cannot tell apart leave nothing behind. Only their ConfigErrors count here: a scheme that needs the
        model (not loaded yet) is set up again, with it, when the run starts."""
        for slot in ("labels", "inference_labels"):
            try:
                label_scheme(self.resolution, slot, ctx)
            except ConfigError:
                raise
            except Exception:  # checked again with the model loaded
                continue

    def _check_processes(self) -> None:
        """With several processes, every training stage must support them (the others would train one copy per
        process and write over each other)."""
        if self.processes.count > 1:
            for slot in self.resolution.trainers:
                if not slot.component(Trainer).multi_process:
                    raise UsageError(f"{slot.path} {slot.entry.name!r} does not run as several processes yet; this "
                                     f"run has {self.processes.count} (torchrun / accelerate launch). Train in one "
                                     f"process; evaluation-only runs may use several")

    def _check_requirements(self, device: str) -> None:
        for slot in self.resolution.all_slots():
            if "cuda" in slot.entry.component.requires and device != "cuda":
                raise UsageError(f"{slot.path} {slot.entry.name!r} needs a CUDA GPU, but the device is {device}")
