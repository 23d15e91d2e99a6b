"""Engine: resolve slots -> load data and model -> training stages -> decode -> evaluate -> write results."""

from __future__ import annotations

import datetime as _dt
import platform
import time
import traceback
from importlib.metadata import version as _version
from pathlib import Path
from typing import Any

from gencls_core.chat import render_prompt
from gencls_core.config import RunConfig, build_config, read_config_file
from gencls_core.context import RunContext, resolve_device
from gencls_core.contracts import check_messages, check_metrics, check_predictions
from gencls_core.data import check_labeled_data, make_splits
from gencls_core.errors import ConfigError, UsageError
from gencls_core.interfaces import Decoder, LabeledData, LabelScheme, Prediction, PromptStrategy
from gencls_core.plugins import Plugins, load_plugins
from gencls_core.resolve import Resolution, resolve
from gencls_core.results import RunResult, scalar_metrics, write_json, write_jsonl, write_text_atomic


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
        self.recorded_data: dict[str, Any] | None = None  # labels and task of a finished run

    @classmethod
    def from_run_dir(cls, run_dir: str | Path, *, plugins: Plugins | None = None) -> Engine:
        """An engine with the resolved config a finished run recorded in its ``run.json``."""
        record_path = Path(run_dir) / "run.json"
        if not record_path.is_file():
            raise UsageError(f"{run_dir} is not a gencls run directory (no run.json)")
        record = read_config_file(record_path)
        engine = cls(record["config"], plugins=plugins)
        engine.recorded_data = record.get("data")
        return engine

    # -- the whole job -------------------------------------------------------------------------
    def run(self) -> RunResult:
        cfg = self.config
        started = time.time()
        device = resolve_device(cfg.device)
        self._check_requirements(device)
        run_dir = self._new_run_dir()
        ctx = RunContext(seed=cfg.seed, device=device, run_dir=run_dir, plugins=self.plugins,
                         progress=cfg.progress)
        record = self._base_record(device)
        write_json(run_dir / "run.json", {**record, "status": "running"})
        timings: dict[str, float] = {}
        try:
            result = self._run(ctx, record, timings)
        except BaseException as err:
            timings["total"] = round(time.time() - started, 3)
            record.update(status="failed", error=f"{type(err).__name__}: {err}",
                          traceback=traceback.format_exc(), timings=timings)
            write_json(run_dir / "run.json", record)
            raise
        timings["total"] = round(time.time() - started, 3)
        record.update(status="done", timings=timings, metrics=result.metrics, stages=result.stages)
        write_json(run_dir / "run.json", record)
        self.plugins.hook.gencls_run_finished(result=result)
        return result

    def _run(self, ctx: RunContext, record: dict[str, Any], timings: dict[str, float]) -> RunResult:
        from transformers import set_seed

        cfg, slots = self.config, self.resolution.slots
        set_seed(cfg.seed)
        with _timer(timings, "load_data"):
            data = slots["dataset"].build().load(ctx)
            check_labeled_data(data, f"dataset {slots['dataset'].entry.name!r}")
            data.splits = make_splits(data, cfg.splits, cfg.seed)
        ctx.data = data
        record["data"] = {"labels": data.labels, "task": data.task, "source": data.source,
                          "sizes": {k: len(v) for k, v in data.splits.items()}}
        write_json(ctx.run_dir / "run.json", {**record, "status": "running"})
        ctx.train_labels, ctx.train_prompt = self._prompting("labels", "prompt", data)
        with _timer(timings, "load_model"):
            ctx.lm = slots["model"].build().load(ctx)
            ctx.lm.model.to(ctx.device)
        stages = []
        for slot in self.resolution.trainers:
            with _timer(timings, f"train:{slot.path}"):
                summary = slot.build().train(ctx)
            stages.append({"stage": slot.path, "trainer": slot.entry.name, **(summary or {})})
        labels, prompt = self._prompting("inference_labels", "inference_prompt", data)
        test = data.splits["test"]
        with _timer(timings, "decode"):
            predictions = self._decode(ctx, list(test["text"]), labels, prompt)
        gold = list(test["label"])
        metrics, sections = self._evaluate(gold, predictions, data.labels, ctx.run_dir)
        metrics["decode_examples_per_second"] = round(len(gold) / max(timings["decode"], 1e-9), 3)
        rows = [{"text": t, "gold": g, "predicted": p.label, "correct": p.label == g, "status": p.status,
                 "output": p.output, "scores": p.scores, "probs": p.probs}
                for t, g, p in zip(test["text"], gold, predictions)]
        write_jsonl(ctx.run_dir / "predictions.jsonl", rows)
        write_json(ctx.run_dir / "metrics.json", metrics)
        write_text_atomic(ctx.run_dir / "report.md", self._report(record, metrics, len(gold), sections,
                                                                  ctx.run_dir))
        return RunResult(ctx.run_dir, metrics, rows, stages)

    # -- inference on new texts ----------------------------------------------------------------
    def predict(self, texts: list[str]) -> list[Prediction]:
        """Classify ``texts`` with the inference prompt, label scheme and decoder.

        Uses the labels and task recorded by ``from_run_dir``; otherwise loads the dataset to learn them.
        """
        device = resolve_device(self.config.device)
        self._check_requirements(device)
        ctx = RunContext(seed=self.config.seed, device=device, run_dir=None, plugins=self.plugins,
                         progress=self.config.progress)
        if self.recorded_data:
            data = LabeledData(splits={}, labels=self.recorded_data["labels"], task=self.recorded_data["task"])
        else:
            data = self.resolution.slots["dataset"].build().load(ctx)
        labels, prompt = self._prompting("inference_labels", "inference_prompt", data)
        ctx.lm = self.resolution.slots["model"].build().load(ctx)
        ctx.lm.model.to(device)
        return self._decode(ctx, texts, labels, prompt)

    # -- pieces ------------------------------------------------------------------------------
    def _prompting(self, labels_slot: str, prompt_slot: str, data: LabeledData) -> tuple[LabelScheme, PromptStrategy]:
        labels = self.resolution.slots[labels_slot].build()
        labels.setup(data.labels)
        prompt = self.resolution.slots[prompt_slot].build()
        prompt.setup(data, labels)
        return labels, prompt

    def _decode(self, ctx: RunContext, texts: list[str], labels: LabelScheme,
                prompt: PromptStrategy) -> list[Prediction]:
        decoder: Decoder = self.resolution.slots["decoder"].build()
        who = self.resolution.slots["inference_prompt"].who()
        ctx.render = lambda text: render_prompt(ctx.lm.tokenizer, check_messages(who, prompt.messages(text), text))
        prompts = [ctx.render(t) for t in texts]
        predictions = decoder.decode(ctx.lm, prompts, labels, ctx)
        return check_predictions(self.resolution.slots["decoder"].who(), predictions, len(prompts), labels.labels)

    def _evaluate(self, gold: list[str], predictions: list[Prediction], labels: list[str],
                  run_dir: Path) -> tuple[dict[str, Any], list[str]]:
        """All metrics, and each evaluator's ``report.md`` section (figures written into ``run_dir``)."""
        metrics: dict[str, Any] = {"n": len(gold), "unparseable": sum(p.label is None for p in predictions),
                                   "no_label": sum(p.status == "no_label" for p in predictions),
                                   "multiple_labels": sum(p.status == "multiple_labels" for p in predictions)}
        sections = []
        for slot in self.resolution.evaluators:
            evaluator = slot.build()
            values = check_metrics(slot.who(), evaluator.evaluate(gold, predictions, labels))
            metrics.update(values)
            sections.append(evaluator.report(values, run_dir))
        return metrics, [s for s in sections if s]

    def _report(self, record: dict[str, Any], metrics: dict[str, Any], n: int, sections: list[str],
                run_dir: Path) -> str:
        """``report.md``: what ran, the scalar metrics, then each evaluator's section."""
        slots = {c["slot"]: c["name"] for c in record["components"]}
        lines = [f"# gencls run {run_dir.name}", "",
                 f"model `{slots['model']}`, dataset `{slots['dataset']}` ({n} test examples), "
                 f"prompt `{slots['inference_prompt']}`, labels `{slots['inference_labels']}`, "
                 f"decoder `{slots['decoder']}`, seed {record['seed']}", "",
                 "| metric | value |", "|---|---|"]
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
        cfg = self.config
        slots = self.resolution.slots
        if cfg.run_name:
            run_dir = cfg.output_dir / cfg.run_name
            if run_dir.exists() and any(run_dir.iterdir()):
                raise ConfigError(f"run directory {run_dir} already exists and is not empty; "
                                  f"choose another run_name or remove it")
        else:
            stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            base = cfg.output_dir / f"{stamp}-{slots['dataset'].entry.name}-{slots['model'].entry.name}"
            run_dir, n = base, 1
            while run_dir.exists():
                n += 1
                run_dir = base.with_name(f"{base.name}-{n}")
        run_dir.mkdir(parents=True, exist_ok=True)
        return run_dir

    def _base_record(self, device: str) -> dict[str, Any]:
        return {
            "gencls_version": _version("gencls"),
            "started": _dt.datetime.now().isoformat(timespec="seconds"),
            "seed": self.config.seed,
            "device": device,
            "python": platform.python_version(),
            "libraries": {lib: _version(lib) for lib in ("torch", "transformers", "datasets", "trl", "peft")},
            "components": [s.describe() for s in self.resolution.all_slots()],
            "plugins": [{"name": p.name, "distribution": p.distribution, "version": p.version}
                        for p in self.plugins.loaded],
            "config": self.resolution.resolved_config(),
        }


class _timer:
    """Adds the seconds spent in a ``with`` block to ``timings[key]``."""

    def __init__(self, timings: dict[str, float], key: str) -> None:
        self.timings, self.key = timings, key

    def __enter__(self) -> None:
        self.start = time.time()

    def __exit__(self, *exc: object) -> None:
        self.timings[self.key] = round(self.timings.get(self.key, 0.0) + time.time() - self.start, 3)
