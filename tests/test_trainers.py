"""SFT and GRPO stages on tiny models: weights change, losses and rewards move the right way, resume works."""

import csv
import json
import random
from pathlib import Path

import pytest
import torch

from gencls_core import Engine, hookimpl
from gencls_core.errors import ConfigError, UsageError
from gencls_core.plugins import load_plugins
from gencls_core.registry import PluginInfo
from gencls_core.testing.tiny import NEGATIVE, POSITIVE


def _read(path):
    return json.loads(path.read_text())


def _state(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def _losses(stage_dir, key="loss"):
    return [h[key] for h in _read(stage_dir / "log_history.json") if key in h]


def test_full_sft_changes_weights_lowers_the_loss_and_is_used_for_prediction(tiny_run_config, tiny_model_dir):
    tiny_run_config.update(evaluate_untrained=True, splits={"test_size": 10, "validation_size": 4})
    tiny_run_config["trainers"] = [{"name": "sft", "lora": None, "max_steps": 30, "learning_rate": 3e-3,
                                    "logging_steps": 5, "save_steps": 10}]
    result = Engine(tiny_run_config).run()
    stage = result.run_dir / "stages/1-sft"
    losses = _losses(stage)
    assert losses[-1] < 0.6 * losses[0]
    assert _losses(stage, "eval_loss"), "the validation split is evaluated during training"
    before, after = _state(tiny_model_dir), _state(stage / "model")
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert [(s["stage"], s["trainer"]) for s in result.stages] == [(0, None), (1, "sft")]
    assert result.stages[1]["train_steps"] == 30 and result.stages[1]["train_loss"] > 0
    assert (stage / "training.png").is_file() and (stage / "checkpoints/checkpoint-30").is_dir()
    record = _read(result.run_dir / "run.json")
    assert record["trained_model"] == "stages/1-sft/model" and record["status"] == "done"
    again = Engine.from_run_dir(result.run_dir).predict([result.predictions[0]["text"]])[0]
    assert again.scores == pytest.approx(result.predictions[0]["scores"], abs=1e-4)


def test_lora_sft_trains_only_the_adapter_and_can_save_a_merged_model(tiny_run_config, tiny_model_dir, capfd):
    import datasets
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    tiny_run_config["trainers"] = [{"name": "sft", "max_steps": 3, "learning_rate": 1e-2, "merge": True,
                                    "logging_steps": 1,
                                    "lora": {"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]}}]
    from transformers.utils import logging

    datasets.enable_progress_bars()  # as in a fresh Python session (the CLI's tests turn them off)
    logging.enable_progress_bar()
    result = Engine(tiny_run_config).run()
    printed = capfd.readouterr()
    assert "'loss'" not in printed.out  # progress off: no log dicts printed (the curves keep them)
    assert "examples/s" not in printed.err  # ... nor datasets' bars (TRL's tokenizing, the splits' casts)
    assert "Loading weights" not in printed.err  # ... nor transformers' (loading the model)
    assert datasets.is_progress_bar_enabled() and logging.is_progress_bar_enabled()  # the user's setting is back
    assert "![stage 1 training curves](stages/1-sft/training.png)" in (result.run_dir / "report.md").read_text()
    stage = result.run_dir / "stages/1-sft"
    adapter = json.loads((stage / "model/adapter_config.json").read_text())
    assert adapter["r"] == 4 and sorted(adapter["target_modules"]) == ["q_proj", "v_proj"]
    card = (stage / "model/README.md").read_text()  # gencls's card, not PEFT's empty template
    assert "# A LoRA adapter trained by a gencls stage" in card and str(tiny_model_dir) not in card
    from gencls_core.weights import adapter_card

    assert "base_model: org/lm" in adapter_card("org/lm") and "base_model" not in adapter_card("/cache/lm")
    from safetensors.torch import load_file

    weights = load_file(str(stage / "model/adapter_model.safetensors"))
    assert any("lora_B" in k and v.abs().sum() > 0 for k, v in weights.items())  # B starts at zero
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    merged = AutoModelForCausalLM.from_pretrained(stage / "merged")
    adapted = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), stage / "model")
    ids = torch.tensor([[5, 17, 42, 9]])
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, adapted(ids).logits, atol=1e-5)
        assert not torch.allclose(base(ids).logits, adapted(ids).logits, atol=1e-5)
    again = Engine.from_run_dir(result.run_dir).predict([result.predictions[0]["text"]])[0]
    assert again.scores == pytest.approx(result.predictions[0]["scores"], abs=1e-4)


class _StopOnce:
    """Plugin whose trainer callback records each step and fails once at ``fail_at`` in stage ``stage``."""

    def __init__(self, stage, fail_at):
        self.stage, self.fail_at, self.failed, self.steps = stage, fail_at, False, []

    @hookimpl
    def gencls_trainer_callbacks(self, ctx):
        from transformers import TrainerCallback

        plugin = self

        class Recorder(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                plugin.steps.append((ctx.stage_dir.name, state.global_step))
                if ctx.stage_dir.name == plugin.stage and state.global_step == plugin.fail_at and not plugin.failed:
                    plugin.failed = True
                    raise KeyboardInterrupt("interrupted for the test")

        return [Recorder()]


def test_resume_skips_finished_stages_and_continues_from_the_last_checkpoint(tiny_run_config):
    tiny_run_config["trainers"] = [{"name": "sft", "max_steps": 2, "save_steps": 2},
                                   {"name": "sft", "max_steps": 6, "save_steps": 2}]
    stopper = _StopOnce("2-sft", fail_at=5)
    plugins = load_plugins(modules=[(PluginInfo("stopper", "tests", "stopper-dist", "1"), stopper)])
    with pytest.raises(KeyboardInterrupt):
        Engine(tiny_run_config, plugins=plugins).run()
    (run_dir,) = Path(tiny_run_config["output_dir"]).iterdir()
    assert _read(run_dir / "run.json")["status"] == "interrupted"
    assert (run_dir / "stages/1-sft/stage.json").is_file() and not (run_dir / "stages/2-sft/stage.json").exists()
    first_stage = (run_dir / "stages/1-sft/stage.json").read_text()
    stopper.steps.clear()
    result = Engine.resume(run_dir, plugins=plugins).run()
    assert stopper.steps == [("2-sft", 5), ("2-sft", 6)]  # stage 1 loaded, stage 2 from checkpoint-4
    assert (run_dir / "stages/1-sft/stage.json").read_text() == first_stage
    stage2 = result.stages[1]
    assert stage2["train_steps"] == 6 and stage2["train_resumed_from_step"] == 4
    assert result.run_dir == run_dir and _read(run_dir / "run.json")["status"] == "done"
    with pytest.raises(UsageError, match="finished already"):
        Engine.resume(run_dir)


def test_a_run_drawing_windows_per_epoch_resumes_on_the_windows_it_would_have_trained_on(tiny_run_config,
                                                                                          tmp_path):
    """12 long texts, 3 steps an epoch, interrupted in the second epoch and resumed from checkpoint-4: the
    steps after it train on the same windows (the same losses, LoRA dropout off) as an uninterrupted run."""
    rows = [(" ".join(f"{word}{j}" for j in range(120)), label) for word, label in (("good", "positive"),
                                                                                    ("bad", "negative"))] * 8
    data = tmp_path / "long.csv"
    data.write_text("text,label\n" + "".join(f"{t},{label}\n" for t, label in rows))
    tiny_run_config.update(dataset={"name": "local", "path": str(data)}, splits={"test_size": 4},
                           truncation={"max_prompt_tokens": 96},
                           long_text={"policy": "chunks", "overlap_tokens": 8, "train_windows": "epoch"})
    tiny_run_config["trainers"] = [{"name": "sft", "epochs": 2, "batch_size": 4, "save_steps": 2,
                                    "logging_steps": 1, "lora": {"dropout": 0.0}}]
    whole = Engine({**tiny_run_config, "output_dir": str(tmp_path / "whole")}).run()
    stopper = _StopOnce("1-sft", fail_at=5)
    plugins = load_plugins(modules=[(PluginInfo("stopper", "tests", "stopper-dist", "1"), stopper)])
    with pytest.raises(KeyboardInterrupt):
        Engine({**tiny_run_config, "output_dir": str(tmp_path / "cut")}, plugins=plugins).run()
    (run_dir,) = (tmp_path / "cut").iterdir()
    resumed = Engine.resume(run_dir, plugins=plugins).run()
    assert resumed.stages[-1]["train_resumed_from_step"] == 4 and resumed.stages[-1]["train_steps"] == 6
    losses = [_losses(r.run_dir / "stages/1-sft") for r in (whole, resumed)]
    assert len(losses[0]) == 6 and losses[1][-2:] == pytest.approx(losses[0][-2:], abs=1e-4)


def _keyword_csvs(folder):
    """One-word texts whose keyword decides the label, and the same texts with random labels."""
    rng = random.Random(1)
    words = [(w, "positive") for w in POSITIVE] + [(w, "negative") for w in NEGATIVE]
    rows = [words[i % len(words)] for i in range(80)]
    paths = {}
    for name, relabel in (("shuffled", lambda _: rng.choice(["positive", "negative"])), ("true", lambda x: x)):
        paths[name] = folder / f"{name}.csv"
        with open(paths[name], "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label"])
            writer.writerows([(text, relabel(label)) for text, label in rows])
    return paths


def test_grpo_mean_reward_and_accuracy_rise_on_a_keyword_task(tiny_run_config, tmp_path):
    """SFT on randomly labelled texts teaches the answer form but no mapping; GRPO with label-match then
    learns which keyword means which label within 150 steps (about 7 s)."""
    csvs = _keyword_csvs(tmp_path)
    task = "Classify the sentiment of the text."
    tiny_run_config.update(prompt={"name": "zero-shot", "template": "{text}"},
                           decoder={"name": "generate", "max_new_tokens": 4})
    tiny_run_config["dataset"] = {"name": "local", "path": str(csvs["shuffled"]), "task": task}
    tiny_run_config["trainers"] = [{"name": "sft", "lora": None, "max_steps": 100, "learning_rate": 1e-2,
                                    "save_steps": 100}]
    warm = Engine(tiny_run_config).run()
    tiny_run_config.update(model={"name": "hf", "path": str(warm.run_dir / "stages/1-sft/model")},
                           dataset={"name": "local", "path": str(csvs["true"]), "task": task},
                           evaluate_untrained=True)
    tiny_run_config["trainers"] = [{"name": "grpo", "lora": None, "max_steps": 150, "learning_rate": 3e-3,
                                    "logging_steps": 2, "save_steps": 1000, "batch_size": 32,
                                    "num_generations": 8, "max_completion_length": 4}]
    result = Engine(tiny_run_config).run()
    rewards = _losses(result.run_dir / "stages/1-grpo", "reward")
    first, last = sum(rewards[:10]) / 10, sum(rewards[-10:]) / 10
    assert last > first + 0.5, rewards
    untrained, trained = result.stages
    assert trained["train_reward"] == rewards[-1]
    assert trained["accuracy"] > untrained["accuracy"] + 0.3


@pytest.mark.parametrize("trainer", ["grpo", "gta"])
def test_grpo_and_gta_with_the_answer_only_head_and_shared_prefix_train_as_with_trls_head(tiny_run_config,
                                                                                          tmp_path, trainer):
    """Three steps (KL term and temperature on, LoRA dropout off): the same logged losses, KL and entropies with
    TRL's fused head, with the answer-only head, and with it sharing the prompts' prefix (the default)."""
    stage = {"name": trainer, "max_steps": 3, "logging_steps": 1, "save_steps": 1000, "batch_size": 8,
             "num_generations": 4, "max_completion_length": 6, "beta": 0.1, "temperature": 0.7,
             "learning_rate": 1e-2, "lora": {"dropout": 0.0}}
    if trainer == "gta":
        tiny_run_config["prompt"] = {"name": "zero-shot", "reasoning": "gta"}
    logged, shared = {}, {}
    for variant in ({"answer_only_head": False}, {"shared_prefix": False}, {}):
        key = json.dumps(variant)
        tiny_run_config["output_dir"] = str(tmp_path / str(len(logged)))
        tiny_run_config["trainers"] = [{**stage, **variant}]
        result = Engine(tiny_run_config).run()
        shared[key] = result.stages[-1]["train_shared_prefix"]
        logged[key] = {k: _losses(result.run_dir / f"stages/1-{trainer}", k) for k in ("loss", "kl", "entropy")}
    assert list(shared.values()) == [False, False, True]
    reference = logged[json.dumps({"answer_only_head": False})]
    assert len(reference["loss"]) == 3
    for values in logged.values():
        for k in reference:
            assert values[k] == pytest.approx(reference[k], abs=1e-4), k


def test_grpo_group_size_must_divide_the_batch(tiny_run_config):
    tiny_run_config["trainers"] = [{"name": "grpo", "batch_size": 6, "num_generations": 4}]
    with pytest.raises(ConfigError, match=r"must be a multiple of num_generations \(4\)"):
        Engine(tiny_run_config)


def test_grpo_needs_a_reward(tiny_run_config):
    tiny_run_config.update(rewards=[], trainers=[{"name": "grpo", "max_steps": 1}])
    with pytest.raises(ConfigError, match="needs at least one reward"):
        Engine(tiny_run_config).run()


def test_training_curves_draw_training_and_validation_loss_in_one_panel(tmp_path):
    from gencls_plugins.trainers.curves import curve_points, plot_curves

    history = [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.5}, {"step": 2, "eval_loss": 1.7, "eval_f1_macro": 0.4},
               {"step": 4, "loss": 1.0}, {"step": 4, "eval_loss": 1.2, "eval_f1_macro": 0.6}]
    panels = curve_points(history, chosen=("eval_f1_macro", 4))
    assert panels == {"loss": {"train": [(1, 2.0), (2, 1.5), (4, 1.0)], "validation": [(2, 1.7), (4, 1.2)]},
                      "eval_f1_macro": {"validation": [(2, 0.4), (4, 0.6)]}}
    assert curve_points([{"step": 1, "reward": 0.5}]) == {"reward": {"train": [(1, 0.5)]}}
    assert plot_curves(history, tmp_path / "c.png").is_file() and plot_curves([], tmp_path / "none.png") is None
