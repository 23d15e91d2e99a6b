"""``start_from``: a run evaluating or training further another run's trained model, and predict on it."""

import json

import pytest

from gencls_core import Engine
from gencls_core.errors import UsageError

STAGE = {"name": "sft", "max_steps": 8, "learning_rate": 1e-2, "save_steps": 100}


def _probs(run_dir):
    return [r["probs"] for r in map(json.loads, (run_dir / "predictions.jsonl").read_text().splitlines())]


def _close(a, b):
    return all(x[k] == pytest.approx(y[k], abs=1e-5) for x, y in zip(a, b) for k in x)


def test_a_run_starting_from_a_trained_run_uses_its_model(tiny_run_config):
    untrained = Engine(tiny_run_config).run()
    trained = Engine({**tiny_run_config, "trainers": [STAGE]}).run()
    assert not _close(_probs(untrained.run_dir), _probs(trained.run_dir))  # training changed the answers
    evaluated = Engine({**tiny_run_config, "start_from": str(trained.run_dir)}).run()
    assert _close(_probs(evaluated.run_dir), _probs(trained.run_dir))
    texts = [r["text"] for r in map(json.loads, (trained.run_dir / "predictions.jsonl").read_text().splitlines())]
    again = Engine.from_run_dir(evaluated.run_dir).predict(texts[:4])
    assert _close([p.probs for p in again], _probs(trained.run_dir)[:4])

    further = Engine({**tiny_run_config, "start_from": str(trained.run_dir), "trainers": [STAGE]}).run()
    assert not _close(_probs(further.run_dir), _probs(trained.run_dir))  # it trained on
    reloaded = Engine.from_run_dir(further.run_dir).predict(texts[:4])
    assert _close([p.probs for p in reloaded], _probs(further.run_dir)[:4])  # its adapter holds the start's


def test_start_from_must_be_a_finished_trained_run_or_a_model_folder(tiny_run_config, tmp_path):
    zero_shot = Engine(tiny_run_config).run()
    with pytest.raises(UsageError, match="has not finished a training stage"):
        Engine({**tiny_run_config, "start_from": str(zero_shot.run_dir)}).run()
    with pytest.raises(UsageError, match="neither a gencls run directory"):
        Engine({**tiny_run_config, "start_from": str(tmp_path)}).run()
    assert [p.name for p in zero_shot.run_dir.parent.iterdir()] == [zero_shot.run_dir.name]  # nothing new
