"""Further TRL/transformers arguments through ``trainer_args``, vLLM rollouts and the accelerate configs: checked
when the config is read, before anything is written."""

import importlib.util
import json
from pathlib import Path

import pytest

from gencls_core import Engine
from gencls_core.errors import ConfigError

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "accelerate"


@pytest.mark.parametrize(("stage", "message"), [
    ({"name": "sft", "trainer_args": {"max_grad_nrom": 0.5}},
     "trainer_args.max_grad_nrom is not an argument of SFTConfig (did you mean 'max_grad_norm'?)"),
    ({"name": "grpo", "trainer_args": {"learning_rate": 1.0}},
     "trainer_args.learning_rate is set by gencls from the stage option learning_rate"),
    ({"name": "gta", "trainer_args": {"num_generations": 2}},
     "trainer_args.num_generations is set by gencls from the stage option num_generations"),
    ({"name": "label-pg", "trainer_args": {"output_dir": "elsewhere"}},
     "trainer_args.output_dir is set by gencls from the run directory"),
])
def test_a_trainer_argument_gencls_does_not_pass_through_is_named_before_the_run_starts(tmp_path, stage, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        Engine({"trainers": [stage], "output_dir": str(tmp_path)})
    assert not any(tmp_path.iterdir())


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed")
def test_vllm_rollouts_without_vllm_say_how_to_install_it(tmp_path):
    with pytest.raises(ConfigError, match=r"pip install 'gencls\[vllm\]'"):
        Engine({"trainers": [{"name": "grpo", "vllm": {"mode": "colocate"}}], "output_dir": str(tmp_path)})


@pytest.mark.skipif(importlib.util.find_spec("deepspeed") is not None, reason="deepspeed is installed")
def test_a_deepspeed_config_without_deepspeed_says_how_to_install_it(tmp_path):
    with pytest.raises(ConfigError, match=r"pip install 'gencls\[deepspeed\]'"):
        Engine({"trainers": [{"name": "sft", "trainer_args": {"deepspeed": "ds.json"}}], "output_dir": str(tmp_path)})


def test_trainer_args_reach_the_trainer(tiny_run_config):
    """logging_first_step logs step 1, which logging_steps 10 over 3 steps would not."""
    tiny_run_config["trainers"] = [{"name": "sft", "max_steps": 3, "logging_steps": 10, "save_steps": 50,
                                    "report_to": ["none"], "trainer_args": {"logging_first_step": True}}]
    result = Engine(tiny_run_config).run()
    history = json.loads((result.run_dir / "stages/1-sft/log_history.json").read_text())
    assert [h["step"] for h in history if "loss" in h] == [1]


@pytest.mark.parametrize("name", ["multi_gpu", "deepspeed_zero2", "deepspeed_zero3", "fsdp2"])
def test_the_accelerate_configs_load_in_accelerate(name):
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(EXAMPLES / f"{name}.yaml"))
    assert config.mixed_precision == "bf16" and config.num_processes > 1
    assert config.distributed_type.value == {"multi_gpu": "MULTI_GPU", "fsdp2": "FSDP"}.get(name, "DEEPSPEED")
