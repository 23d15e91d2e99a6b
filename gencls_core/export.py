"""``gencls export``: a finished run as a self-contained folder — the model with its adapter merged (safetensors),
the tokenizer, ``gencls.json`` (labels, task, and the run's prompt, label and decoder settings) and a model card —
that ``gencls predict`` and ``Engine.from_pretrained`` load without the run, and plain ``transformers`` loads as a
causal LM."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from gencls_core.engine import Engine
from gencls_core.errors import UsageError
from gencls_core.results import metrics_table, write_json, write_text_atomic
from gencls_core.weights import save_merged

MANIFEST = "gencls.json"
# what predict needs of the run's config (the dataset and splits only for prompts that draw training examples)
INFERENCE_SLOTS = ("seed", "dataset", "splits", "truncation", "labels", "prompt", "inference_labels",
                   "inference_prompt", "decoder")


def export_run(run_dir: Path, out: Path, *, force: bool = False) -> Path:
    """Write the export of ``run_dir`` to ``out`` (refused when ``out`` exists, unless ``force``)."""
    if out.exists() and not force:
        raise UsageError(f"{out} exists; choose another folder or pass --force to replace it")
    engine = Engine.from_run_dir(run_dir)
    record = engine.recorded
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    save_merged(engine.trained_lm("cpu"), tmp)
    config = {k: v for k, v in record["config"].items() if k in INFERENCE_SLOTS}
    write_json(tmp / MANIFEST, {
        "format": 1, "gencls_version": record["gencls_version"], "source_run": str(Path(run_dir).resolve()),
        "labels": record["data"]["labels"], "task": record["data"]["task"], "config": config,
        "trained": engine.trained_model is not None or engine.config.start_from is not None,
        "metrics": record.get("metrics", {}), "stages": record.get("stages", []),
    })
    write_text_atomic(tmp / "README.md", _model_card(record))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def _model_card(record: dict[str, Any]) -> str:
    slots = {c["slot"]: c["name"] for c in record["components"]}
    lines = ["---", "library_name: transformers", "pipeline_tag: text-generation",
             "tags: [gencls, text-classification]", "---", "",
             f"# A generative text classifier: {slots['model']} on {slots['dataset']}", "",
             f"Exported by gencls {record['gencls_version']} from the run `{record.get('started', '')}` (seed "
             f"{record['seed']}). It answers one of: {', '.join(record['data']['labels'])}.", "",
             "## Training", ""]
    stages = record.get("stages", [])
    lines += [f"- stage {s['stage']}: {s['trainer'] or 'untrained'}" for s in stages] or ["- no training stage"]
    lines += ["", "## Evaluation (the run's evaluation split)", "", *metrics_table(record.get("metrics", {}))]
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
