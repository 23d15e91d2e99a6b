"""``gencls export``: a finished run as a self-contained folder — the model with its adapter merged (safetensors),
the tokenizer, ``gencls.json`` (labels, task, and the run's prompt, label and decoder settings) and a model card —
that ``gencls predict`` and ``Engine.from_pretrained`` load without the run, and plain ``transformers`` loads as a
causal LM."""

from __future__ import annotations

import json
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

from gencls_core.engine import INFERENCE_SLOTS, Engine
from gencls_core.errors import GenclsWarning, UsageError
from gencls_core.interfaces import ModelSource
from gencls_core.results import follow_umask, metrics_table, write_json, write_text_atomic
from gencls_core.weights import save_merged

MANIFEST = "gencls.json"


DTYPES = ("float32", "bfloat16", "float16")


def export_run(run_dir: Path, out: Path, *, force: bool = False, trust_remote_code: bool = False,
               dtype: str = "float32") -> Path:
    """Write the export of ``run_dir`` to ``out``, its weights stored as ``dtype`` (float32: as the run evaluated
    them; bfloat16 or float16: half the size, scores within rounding). An existing ``out`` is refused, unless
    ``force`` and it is itself a gencls export (and neither holds nor is the run, its output folder or the
    working directory)."""
    if dtype not in DTYPES:
        raise UsageError(f"--dtype {dtype}: choose one of {', '.join(DTYPES)}")
    check_export_target(Path(run_dir), Path(out), force)
    engine = Engine.from_run_dir(run_dir, unfinished_hint="export a finished run",
                                 trust_remote_code=trust_remote_code)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        _write_export(engine, Path(run_dir), tmp, dtype)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out


def _write_export(engine: Engine, run_dir: Path, folder: Path, dtype: str) -> None:
    """The merged model (as ``dtype``), tokenizer, manifest and model card into ``folder``."""
    record = engine.recorded
    save_merged(engine.trained_lm("cpu"), folder, dtype)
    config = {k: v for k, v in record["config"].items() if k in INFERENCE_SLOTS}
    write_json(folder / MANIFEST, {
        "format": 1, "gencls_version": record["gencls_version"], "source_run": run_dir.resolve().name,
        "labels": record["data"]["labels"], "task": record["data"]["task"], "config": config,
        "multi_label": record["data"].get("multi_label", False),
        "trained": engine.trained_model is not None or engine.config.start_from is not None,
        "metrics": record.get("metrics", {}), "stages": record.get("stages", []),
    })
    card = engine.resolution.slots["model"].build(ModelSource).card()
    write_text_atomic(folder / "README.md", _model_card(record, card, dtype, _baseline(run_dir)))
    follow_umask(folder)  # mkdtemp makes a 0700 folder, safetensors 0600 files


def check_export_target(run_dir: Path, out: Path, force: bool) -> None:
    """Refuse an ``out`` whose replacement would delete what this export did not create."""
    if not out.exists() and not out.is_symlink():
        return
    if not force:
        raise UsageError(f"{out} exists; choose another folder or pass --force to replace an earlier export")
    target, run = out.resolve(), run_dir.resolve()
    if run in target.parents:
        raise UsageError(f"--force would delete {out}, which is part of the run being exported ({run}); export to a "
                         f"new folder outside it")
    protected = {"the run being exported": run, "the run's output folder": run.parent,
                 "the working directory": Path.cwd().resolve()}
    for what, path in protected.items():
        if target == path or target in path.parents:
            raise UsageError(f"--force would delete {out}, which is or holds {what} ({path}); export to a new "
                             f"folder")
    if out.is_symlink() or not out.is_dir() or not (out / MANIFEST).is_file():
        raise UsageError(f"--force only replaces an earlier gencls export, and {out} is not one (no {MANIFEST}); "
                         f"it is left as it is: choose another folder")


def _baseline(run_dir: Path) -> dict[str, Any] | None:
    """The run's comparison with TF-IDF + logistic regression (``metrics.json``'s ``baseline``), if it has one."""
    path = run_dir / "metrics.json"
    try:
        baseline = json.loads(path.read_text()).get("baseline") if path.is_file() else None
    except (OSError, ValueError, AttributeError) as err:
        warnings.warn(f"{path} does not read as the run's metrics ({err}); the model card leaves out the baseline",
                      GenclsWarning, stacklevel=2)
        return None
    return baseline if isinstance(baseline, dict) else None


def _model_card(record: dict[str, Any], base: dict[str, str], dtype: str = "float32",
                baseline: dict[str, Any] | None = None) -> str:
    """A Hub model card: what the model is, how it was trained (stages and their main settings, the data's
    sizes) and scored (beside ``baseline``, TF-IDF + logistic regression on the same splits), and how to use it;
    no local paths."""
    slots = {c["slot"]: c["name"] for c in record["components"]}
    data = record["data"]
    front = [f"{k}: {v}" for k, v in base.items()]
    lines = ["---", "library_name: transformers", "pipeline_tag: text-generation", *front,
             "tags: [gencls, text-classification, generative-classification]", "---", "",
             f"# A generative text classifier: {base.get('base_model', slots['model'])} on {slots['dataset']}", "",
             f"A causal LM trained by gencls {record['gencls_version']} (seed {record['seed']}) to answer one of: "
             f"{', '.join(data['labels'])}. It is **not** a sequence-classification model: "
             f'`pipeline("text-classification")` would put a random head on it; load it with gencls (below) or '
             f"as a causal LM and score each label's answer after the prompt.", "",
             f"Task: {data['task']}", "", "## Training", "",
             "Examples per split: " + ", ".join(f"{k} {v}" for k, v in data.get("sizes", {}).items()) + ".", ""]
    specs = record.get("recipe", {}).get("stages") or record["config"].get("trainers", [])
    keys = ("epochs", "max_steps", "learning_rate", "batch_size", "class_weights", "best_metric")
    for stage in record.get("stages", []):
        spec = specs[stage["stage"] - 1] if stage["trainer"] and stage["stage"] <= len(specs) else {}
        lora = spec.get("lora") or {}
        settings = [f"{k} {spec[k]}" for k in keys if spec.get(k) not in (None, -1)]
        settings += [f"LoRA r {lora['r']}"] if lora.get("r") else []
        kept = {True: ", kept", False: ", dropped by the recipe"}.get(stage.get("kept"), "")
        lines.append(f"- stage {stage['stage']}: {stage['trainer'] or 'untrained'}"
                     + (f" ({', '.join(settings)})" if settings else "") + kept)
    if not record.get("stages"):
        lines.append("- no training stage")
    lines += ["", "## Evaluation (the run's evaluation split)", "", *metrics_table(record.get("metrics", {}))]
    if baseline:
        from gencls_core.baseline import describe

        lines += ["", describe(baseline)]
    if dtype != "float32":
        lines += ["", f"The weights are stored as {dtype}; the run evaluated them in float32, so scores here may "
                      f"differ within rounding (a text near a tie may change label)."]
    lines += ["", "## Use", "", "```bash", "gencls predict THIS_FOLDER texts.txt", "```", "",
              "```python", "from gencls_core import Engine", "Engine.from_pretrained('THIS_FOLDER').predict(['...'])",
              "```", "", f"Prompt `{slots['inference_prompt']}`, labels `{slots['inference_labels']}`, decoder "
              f"`{slots['decoder']}` (all settings in `{MANIFEST}`).", ""]
    return "\n".join(lines)


def push_to_hub(folder: Path, repo: str) -> str:
    """Upload an export to the Hugging Face Hub repository ``repo`` (created if needed); its URL."""
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo, exist_ok=True)
    return str(api.upload_folder(folder_path=str(folder), repo_id=repo))
