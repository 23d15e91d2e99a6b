"""A run as several processes (torchrun, gloo on CPU): one run directory, files written once, the evaluation
split between the processes and gathered in order, metrics equal to a single-process run's."""

import json
import math
import os
import subprocess
import sys

import pytest
import yaml

from gencls_core import Engine


def _torchrun(tmp_path, config, n=2, env=None):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(n),
                           "--standalone", "-m", "gencls_core", "run", "--config", str(path)],
                          capture_output=True, text=True, timeout=300, env=env)


def test_an_evaluation_as_two_processes_equals_one_process(tmp_path, tiny_run_config):
    done = _torchrun(tmp_path, {**tiny_run_config, "splits": {"test_size": 11}})
    assert done.returncode == 0, done.stderr[-3000:]
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1  # one directory agreed by both processes
    record = json.loads((runs[0] / "run.json").read_text())
    assert record["status"] == "done" and record["processes"]["count"] == 2
    assert done.stdout.count("run directory:") == 1  # the main process reports
    rows = [json.loads(line) for line in (runs[0] / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 11  # an odd count: unequal shards, gathered in order
    reference = Engine({**tiny_run_config, "splits": {"test_size": 11}, "output_dir": str(tmp_path / "one")}).run()
    assert [r["text"] for r in rows] == [r["text"] for r in reference.predictions]
    assert [r["predicted"] for r in rows] == [r["predicted"] for r in reference.predictions]
    for got, want in zip(rows, reference.predictions):
        assert got["scores"] == pytest.approx(want["scores"], abs=1e-5)
    assert record["metrics"]["accuracy"] == reference.metrics["accuracy"]


ONE_PROCESS_TRAINER = """
from gencls_core import hookimpl
from gencls_core.interfaces import Trainer


class OneProcess(Trainer):
    name = "one-process"

    def train(self, ctx):
        raise AssertionError("a refused stage must not train")


@hookimpl
def gencls_register_trainers(register):
    register(OneProcess)
"""


def test_a_training_stage_that_cannot_run_as_several_processes_is_refused_before_anything_is_written(
        tmp_path, tiny_run_config):
    """Every built-in trainer runs as several processes; a plugin's that does not say so is refused."""
    from gencls_core.testing.distributions import write_plugin_distribution

    site = tmp_path / "site"
    write_plugin_distribution(site, plugin="one", dist="gencls-plugin-one", source=ONE_PROCESS_TRAINER,
                              module="fake_one")
    config = {**tiny_run_config, "plugins": ["one"], "trainers": [{"name": "one-process"}]}
    done = _torchrun(tmp_path, config, env={"PYTHONPATH": f"{site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"})
    assert done.returncode != 0 and "trainers.0 'one-process' does not run as several processes yet" in done.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_sft_as_two_processes_trains_one_model_written_once_and_evaluated(tmp_path, tiny_run_config):
    stage = {"name": "sft", "max_steps": 6, "batch_size": 4, "learning_rate": 1e-2, "save_steps": 3,
             "report_to": ["none"]}
    done = _torchrun(tmp_path, {**tiny_run_config, "trainers": [stage], "evaluate_untrained": True})
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = (tmp_path / "runs").iterdir()
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "done" and record["processes"]["count"] == 2
    assert done.stdout.count("run directory:") == 1
    assert record["stages"][1]["train_steps"] == 6
    from safetensors.torch import load_file

    adapter = load_file(str(run / "stages/1-sft/model/adapter_model.safetensors"))
    assert any(v.abs().max() > 0 for k, v in adapter.items() if "lora_B" in k)  # LoRA B starts at zero: it trained
    history = json.loads((run / "stages/1-sft/log_history.json").read_text())
    losses = [h["loss"] for h in history if "loss" in h]
    assert losses and all(math.isfinite(v) for v in losses)
    assert sorted(p.name for p in (run / "stages/1-sft/checkpoints").glob("checkpoint-*")) == ["checkpoint-3",
                                                                                              "checkpoint-6"]
    # the saved adapter is the model the run evaluated: a single process reproduces its predictions
    rows = [json.loads(line) for line in (run / "predictions.jsonl").read_text().splitlines()]
    again = Engine.from_run_dir(run).predict([r["text"] for r in rows])
    for got, want in zip(again, rows):
        assert got.probs == pytest.approx(want["probs"], abs=1e-5)


def test_grpo_as_two_processes_trains_and_writes_its_stage_once(tmp_path, tiny_run_config):
    stage = {"name": "grpo", "max_steps": 2, "batch_size": 8, "num_generations": 4, "max_completion_length": 4,
             "learning_rate": 1e-3, "save_steps": 2, "report_to": ["none"]}
    done = _torchrun(tmp_path, {**tiny_run_config, "trainers": [stage]})
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = (tmp_path / "runs").iterdir()
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "done" and record["stages"][0]["train_steps"] == 2
    history = json.loads((run / "stages/1-grpo/log_history.json").read_text())
    assert any("reward" in h for h in history) and (run / "stages/1-grpo/model/adapter_model.safetensors").is_file()


def test_gta_as_two_processes_trains_with_the_conflict_rule_and_writes_its_stage_once(tmp_path, tiny_run_config):
    """The conflict rule's combined gradient goes through a surrogate loss, so DDP still averages it."""
    stage = {"name": "gta", "max_steps": 2, "batch_size": 8, "num_generations": 4, "max_completion_length": 8,
             "learning_rate": 1e-2, "save_steps": 2, "report_to": ["none"], "conflict": "project"}
    config = {**tiny_run_config, "trainers": [stage], "prompt": {"name": "zero-shot", "reasoning": "gta"}}
    done = _torchrun(tmp_path, config)
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = (tmp_path / "runs").iterdir()
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "done" and record["stages"][0]["train_steps"] == 2
    history = [h for h in json.loads((run / "stages/1-gta/log_history.json").read_text()) if "loss" in h]
    assert all(math.isfinite(h["sft_loss"]) and -1 <= h["cosine"] <= 1 for h in history)
    from safetensors.torch import load_file

    adapter = load_file(str(run / "stages/1-gta/model/adapter_model.safetensors"))
    assert any(v.abs().max() > 0 for k, v in adapter.items() if "lora_B" in k)


def test_ppo_as_two_processes_trains_and_writes_its_stage_once(tmp_path, tiny_run_config):
    stage = {"name": "ppo", "max_steps": 2, "batch_size": 8, "mini_batch_size": 4, "ppo_epochs": 1,
             "max_completion_length": 4, "learning_rate": 1e-2, "save_steps": 2, "report_to": ["none"]}
    done = _torchrun(tmp_path, {**tiny_run_config, "trainers": [stage]})
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = (tmp_path / "runs").iterdir()
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "done" and record["stages"][0]["train_steps"] == 2
    history = [h for h in json.loads((run / "stages/1-ppo/log_history.json").read_text()) if "loss" in h]
    assert len(history) == 2 and all(math.isfinite(h["value_loss"]) for h in history)
    assert (run / "stages/1-ppo/checkpoints/checkpoint-2/value_head.safetensors").is_file()
    from safetensors.torch import load_file

    adapter = load_file(str(run / "stages/1-ppo/model/adapter_model.safetensors"))
    assert any(v.abs().max() > 0 for k, v in adapter.items() if "lora_B" in k)


def test_label_pg_as_two_processes_trains_and_writes_its_stage_once(tmp_path, tiny_run_config):
    stage = {"name": "label-pg", "max_steps": 4, "batch_size": 4, "learning_rate": 1e-2, "beta": 0.0,
             "save_steps": 2, "report_to": ["none"]}
    done = _torchrun(tmp_path, {**tiny_run_config, "trainers": [stage]})
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = (tmp_path / "runs").iterdir()
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "done" and record["stages"][0]["train_steps"] == 4
    from safetensors.torch import load_file

    adapter = load_file(str(run / "stages/1-label-pg/model/adapter_model.safetensors"))
    assert any(v.abs().max() > 0 for k, v in adapter.items() if "lora_B" in k)


def test_a_batch_that_does_not_divide_between_the_processes_is_an_error(tmp_path, tiny_run_config):
    stage = {"name": "sft", "max_steps": 1, "batch_size": 3}
    done = _torchrun(tmp_path, {**tiny_run_config, "trainers": [stage]})
    assert done.returncode != 0 and "batch_size 3 is the batch of all 2 processes together" in done.stderr


@pytest.mark.parametrize("stage", [
    {"name": "sft", "group_by_length": False, "lora": {"dropout": 0.0}},
    {"name": "sft", "group_by_length": False, "lora": {"dropout": 0.0}, "shared_prefix": True},
    {"name": "label-pg", "beta": 0.0, "shared_prefix": True},
], ids=["sft", "sft-shared-prefix", "label-pg-shared-prefix"])
def test_a_stage_as_two_processes_trains_the_model_one_process_trains(tmp_path, tiny_run_config, stage):
    """Same global batches (length grouping off, so both see the examples in the same order) and no dropout, so
    the same updates up to floating-point order: the trained probabilities agree within 1e-3 (sft: 8e-6), while
    training moved them by more than 0.02 (sft: 0.056). With LoRA dropout on they differ by ~30% of the move
    (each process draws its own masks). The one-process run encodes every prompt whole: with shared_prefix the
    two processes encode the shared prefix once per batch, through the unwrapped model (one DDP call a step)."""
    stage = {**stage, "max_steps": 8, "batch_size": 4, "learning_rate": 3e-2, "save_steps": 50,
             "report_to": ["none"]}
    config = {**tiny_run_config, "trainers": [stage], "evaluate_untrained": True}
    done = _torchrun(tmp_path, config)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "shared_prefix" not in done.stderr  # not turned off with a warning
    (run,) = (tmp_path / "runs").iterdir()
    two = [json.loads(line)["probs"] for line in (run / "predictions.jsonl").read_text().splitlines()]
    whole = {**config, "trainers": [{**stage, "shared_prefix": False}], "output_dir": str(tmp_path / "one")}
    one = Engine(whole).run()
    untrained = [json.loads(line)["probs"] for line in
                 (one.run_dir / "stages/0-untrained/predictions.jsonl").read_text().splitlines()]
    trained = [r["probs"] for r in one.predictions]
    gap = max(abs(p[k] - q[k]) for p, q in zip(two, trained) for k in p)
    moved = max(abs(p[k] - q[k]) for p, q in zip(untrained, trained) for k in p)
    assert gap < 1e-3 and moved > 0.02, (gap, moved)


def test_a_window_per_epoch_as_two_processes_trains_an_epoch_of_one_window_a_text(tmp_path, tiny_run_config):
    rows = [(" ".join(f"{word}{j}" for j in range(120)), label) for word, label in (("good", "positive"),
                                                                                    ("bad", "negative"))] * 6
    data = tmp_path / "long.csv"
    data.write_text("text,label\n" + "".join(f"{t},{label}\n" for t, label in rows))
    stage = {"name": "sft", "epochs": 2, "batch_size": 4, "save_steps": 1000, "report_to": ["none"]}
    config = {**tiny_run_config, "dataset": {"name": "local", "path": str(data)}, "splits": {"test_size": 4},
              "truncation": {"max_prompt_tokens": 96}, "trainers": [stage],
              "long_text": {"policy": "chunks", "overlap_tokens": 8, "train_windows": "epoch"}}
    done = _torchrun(tmp_path, config)
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = (tmp_path / "runs").iterdir()
    record = json.loads((run / "run.json").read_text())
    assert record["stages"][0]["train_steps"] == 2 * 2  # 8 training texts, a global batch of 4, two epochs
