"""On a CUDA GPU (skipped elsewhere): every trainer a few steps in bf16, and the perplexity decoder's scores
against the CPU's. `pytest -m cuda` runs only these."""

import importlib.util
import json

import pytest

from gencls_core import Engine

pytestmark = pytest.mark.cuda

STAGES = {
    "sft": {"name": "sft", "max_steps": 3, "report_to": ["none"]},
    "grpo": {"name": "grpo", "max_steps": 2, "batch_size": 4, "num_generations": 4, "max_completion_length": 4,
             "report_to": ["none"]},
    "label-pg": {"name": "label-pg", "max_steps": 2, "report_to": ["none"]},
    "ppo": {"name": "ppo", "max_steps": 2, "batch_size": 4, "mini_batch_size": 2, "max_completion_length": 4},
    "gta": {"name": "gta", "max_steps": 2, "batch_size": 4, "num_generations": 4, "max_completion_length": 16},
}
VLLM = {"name": "grpo", "max_steps": 2, "batch_size": 4, "num_generations": 4, "max_completion_length": 4,
        "report_to": ["none"], "vllm": {"mode": "colocate", "gpu_memory_utilization": 0.2}}


@pytest.mark.parametrize("trainer", sorted(STAGES))
def test_each_trainer_runs_a_few_bf16_steps_on_cuda(trainer, tiny_run_config):
    config = {**tiny_run_config, "device": "cuda", "trainers": [STAGES[trainer]]}
    if trainer == "gta":
        config["prompt"] = {"name": "zero-shot", "reasoning": "gta"}
    result = Engine(config).run()
    record = json.loads((result.run_dir / "run.json").read_text())
    assert record["status"] == "done" and record["device"] == "cuda"
    assert result.stages[-1]["train_steps"] == STAGES[trainer]["max_steps"]


@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="needs vllm: pip install 'gencls[vllm]'")
def test_grpo_samples_with_vllm_colocated(tiny_run_config):
    result = Engine({**tiny_run_config, "device": "cuda", "trainers": [VLLM]}).run()
    assert result.stages[-1]["train_steps"] == VLLM["max_steps"]


def test_perplexity_scores_on_cuda_match_the_cpu(tiny_run_config, tmp_path):
    rows = {}
    for device in ("cpu", "cuda"):
        config = {**tiny_run_config, "device": device, "output_dir": str(tmp_path / device)}
        result = Engine(config).run()
        rows[device] = result.predictions
    for cpu, gpu in zip(rows["cpu"], rows["cuda"]):
        assert gpu["scores"] == pytest.approx(cpu["scores"], abs=2e-3)
