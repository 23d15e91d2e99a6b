"""``gencls export``: a self-contained folder that predict, Engine.from_pretrained and transformers load."""

import json
import subprocess
import sys

import pytest

from gencls_core import Engine
from gencls_core.errors import UsageError
from gencls_core.export import export_run

TEXTS = ["a good film", "a dull plot", "great acting"]


def test_an_export_predicts_like_its_run_and_loads_in_transformers(tmp_path, tiny_run_config):
    from transformers import AutoModelForCausalLM

    tiny_run_config["trainers"] = [{"name": "sft", "max_steps": 2, "learning_rate": 5e-3}]
    run_dir = Engine(tiny_run_config).run().run_dir
    out = export_run(run_dir, tmp_path / "export")
    assert {"config.json", "model.safetensors", "gencls.json", "README.md", "tokenizer_config.json"} <= \
        {p.name for p in out.iterdir()}
    manifest = json.loads((out / "gencls.json").read_text())
    assert manifest["labels"] == ["negative", "positive"] and "trainers" not in manifest["config"]
    card = (out / "README.md").read_text()
    assert "| accuracy |" in card and "- stage 1: sft (epochs 1.0, max_steps 2, learning_rate 0.005" in card
    assert 'pipeline("text-classification")' in card and str(tmp_path) not in card  # no local paths
    assert "TF-IDF + logistic regression on the same splits" in card  # what a bag of words gets on the same data
    assert "base_model" not in card  # a local model folder is not published as one
    assert manifest["source_run"] == run_dir.name
    from gencls_core.export import _model_card

    front = _model_card(json.loads((run_dir / "run.json").read_text()), {"base_model": "org/lm"}).split("---")[1]
    assert "\nbase_model: org/lm\n" in front  # the Hub links the base model from the front matter
    AutoModelForCausalLM.from_pretrained(out)  # a plain causal LM: the adapter is merged
    assert manifest["trained"] is True
    want = Engine.from_run_dir(run_dir).predict(TEXTS * 6)  # 18 texts: enough for calibrate auto to calibrate
    got = Engine.from_pretrained(out).predict(TEXTS * 6)  # the export is trained: auto leaves it uncalibrated too
    assert [p.label for p in got] == [p.label for p in want]
    for g, w in zip(got, want):
        assert g.scores == pytest.approx(w.scores, abs=1e-4)
    done = subprocess.run([sys.executable, "-m", "gencls_core", "predict", str(out), "-"], input="\n".join(TEXTS),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["label"] for line in done.stdout.splitlines()] == [p.label for p in want[:3]]
    with pytest.raises(UsageError, match="exists; choose another folder or pass --force"):
        export_run(run_dir, out)
    with pytest.raises(UsageError, match="is not a gencls export"):
        Engine.from_pretrained(tmp_path)


def test_an_export_stores_half_precision_weights_when_asked(tmp_path, tiny_run_config):
    from safetensors import safe_open

    run_dir = Engine(tiny_run_config).run().run_dir
    full = export_run(run_dir, tmp_path / "full")
    half = export_run(run_dir, tmp_path / "half", dtype="bfloat16")
    with safe_open(half / "model.safetensors", "pt") as f:
        assert {str(f.get_tensor(k).dtype) for k in f.keys()} == {"torch.bfloat16"}
    assert (half / "model.safetensors").stat().st_size < 0.6 * (full / "model.safetensors").stat().st_size
    assert "stored as bfloat16" in (half / "README.md").read_text()
    want, got = Engine.from_pretrained(full).predict(TEXTS), Engine.from_pretrained(half).predict(TEXTS)
    for g, w in zip(got, want):
        assert g.scores == pytest.approx(w.scores, abs=0.05)  # bfloat16 keeps ~3 significant digits
    with pytest.raises(UsageError, match="--dtype int8: choose one of float32, bfloat16, float16"):
        export_run(run_dir, tmp_path / "int", dtype="int8")
