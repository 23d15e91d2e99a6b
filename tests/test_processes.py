"""A run as several processes (torchrun, gloo on CPU): one run directory, files written once, the evaluation
split between the processes and gathered in order, metrics equal to a single-process run's."""

import json
import os
import subprocess
import sys

import pytest
import yaml

from gencls_core import Engine


def _torchrun(tmp_path, config, n=2):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
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


def test_a_training_stage_that_cannot_run_as_several_processes_is_refused_before_anything_is_written(
        tmp_path, tiny_run_config):
    done = _torchrun(tmp_path, {**tiny_run_config, "trainers": [{"name": "sft", "max_steps": 1}]})
    assert done.returncode != 0 and "trainers.0 'sft' does not run as several processes yet" in done.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
