"""Validation-driven stages and class weights (issue 33): a stage keeps its best checkpoint by a validation
metric decoded with the run's decoder, stops after a patience, and weighs examples or rewards by class."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from gencls_core import Engine
from gencls_core.errors import ConfigError, GenclsWarning
from gencls_core.inference import Inference
from gencls_core.rewards import CheckedReward, ClassWeighted


def _inject(monkeypatch, values, seen, extra=None):
    """``Inference.validate`` answers the given accuracies in turn (recording the splits decoded meanwhile)."""
    sequence = iter(values)
    real = Inference.evaluate_split

    def spy(self, timings, split_name=None):
        seen.append(split_name or self.resolution.config.splits.evaluate)
        return real(self, timings, split_name)

    def validate(self, model):
        seen.append("validate")
        return {"accuracy": next(sequence), "f1_macro": 0.5, **(extra or {})}

    monkeypatch.setattr(Inference, "evaluate_split", spy)
    monkeypatch.setattr(Inference, "validate", validate)


def _sft(tiny_run_config, **options):
    tiny_run_config["trainers"] = [{"name": "sft", "learning_rate": 5e-3, "logging_steps": 1, **options}]
    return tiny_run_config


def test_a_stage_stops_after_the_patience_and_ends_with_the_best_checkpoint(tiny_run_config, monkeypatch):
    seen = []
    _inject(monkeypatch, [0.5, 0.9, 0.6, 0.6, 0.6, 0.6], seen)
    config = _sft(tiny_run_config, max_steps=20, eval_steps=2, best_metric="accuracy", patience=2,
                  save_total_limit=None)
    with pytest.warns(GenclsWarning, match="carving 10% of the training examples"):
        result = Engine(config).run()
    stage = json.loads((result.run_dir / "stages/1-sft/stage.json").read_text())["train"]
    assert (stage["steps"], stage["best_step"], stage["best_value"], stage["stopped"]) == (8, 4, 0.9, "early_stopping")
    kept = load_file(str(result.run_dir / "stages/1-sft/checkpoints/checkpoint-4/adapter_model.safetensors"))
    final = load_file(str(result.run_dir / "stages/1-sft/model/adapter_model.safetensors"))
    assert kept.keys() == final.keys() and all(torch.equal(kept[k], final[k]) for k in kept)
    newest = load_file(str(result.run_dir / "stages/1-sft/checkpoints/checkpoint-8/adapter_model.safetensors"))
    assert not all(torch.equal(newest[k], final[k]) for k in kept)  # training went on past the kept step
    assert seen == ["validate"] * 4 + ["test"]  # choosing never read the test split
    record = json.loads((result.run_dir / "run.json").read_text())
    assert record["data"]["sizes"]["validation"] == 3
    report = (result.run_dir / "report.md").read_text()
    assert "ended with step 4's weights (accuracy 0.9000 on the validation split), stopped by early stopping" in report
    history = json.loads((result.run_dir / "stages/1-sft/log_history.json").read_text())
    assert [h["eval_accuracy"] for h in history if "eval_accuracy" in h] == [0.5, 0.9, 0.6, 0.6]


def test_without_a_best_metric_the_stage_trains_every_step_and_keeps_the_last_weights(tiny_run_config, monkeypatch):
    seen = []
    _inject(monkeypatch, [], seen)
    result = Engine(_sft(tiny_run_config, max_steps=6, save_steps=2)).run()
    stage = json.loads((result.run_dir / "stages/1-sft/stage.json").read_text())["train"]
    assert stage["steps"] == 6 and "best_step" not in stage and seen == ["test"]


def test_a_class_almost_never_predicted_on_validation_warns_during_training(tiny_run_config, monkeypatch):
    rare = {"rarely_predicted": {"negative": {"gold": 5, "predicted": 0}}}
    _inject(monkeypatch, [0.5, 0.5], [], extra=rare)
    config = _sft(tiny_run_config, max_steps=4, eval_steps=2, best_metric="f1_macro")
    config["splits"]["validation_size"] = 10
    with pytest.warns(GenclsWarning, match=r"at step 2 \(validation split\): the model almost never predicts negative"):
        Engine(config).run()


def test_choosing_options_are_checked():
    with pytest.raises(ConfigError, match="patience needs best_metric"):
        Engine({"trainers": [{"name": "sft", "patience": 2}]})
    with pytest.raises(ConfigError, match="ppo cannot choose on validation yet"):
        Engine({"trainers": [{"name": "ppo", "best_metric": "accuracy"}]})
    with pytest.raises(ConfigError, match="class_weights must be positive"):
        Engine({"trainers": [{"name": "sft", "class_weights": {"positive": 0}}]})


# -- class weights -----------------------------------------------------------------------------------------------
def test_the_answer_head_weighs_each_example_by_hand(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    from gencls_plugins.trainers.answer_head import answer_only_head

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    answer_only_head(model)
    ids = torch.tensor([[5, 6, 7, 8, 9], [9, 8, 7, 6, 5]])
    labels = torch.tensor([[-100, -100, -100, 8, 9], [-100, -100, 7, 6, 5]])
    plain = model(input_ids=ids, labels=labels, fused_lm_head=True)
    weighted = model(input_ids=ids, labels=labels, fused_lm_head=True, example_weight=torch.tensor([3.0, 0.5]))
    assert torch.allclose(weighted.log_probs, plain.log_probs * torch.tensor([[3.0], [0.5]]))
    by_hand = -(3.0 * plain.log_probs[0].sum() + 0.5 * plain.log_probs[1].sum()) / 5  # 2 + 3 answer tokens
    assert torch.allclose(weighted.loss, by_hand)


def test_uniform_class_weights_scale_the_first_sft_loss_exactly(tiny_run_config):
    def first_loss(weights, out):
        config = _sft(dict(tiny_run_config, output_dir=str(out)), max_steps=1, batch_size=30, lora=None)
        if weights:
            config["trainers"][0]["class_weights"] = weights
        run = Engine(config).run().run_dir
        history = json.loads((run / "stages/1-sft/log_history.json").read_text())
        return history[0]["loss"], json.loads((run / "stages/1-sft/stage.json").read_text())["train"]

    plain, _ = first_loss(None, Path(tiny_run_config["output_dir"]) / "a")
    doubled, summary = first_loss({"positive": 2.0, "negative": 2.0}, Path(tiny_run_config["output_dir"]) / "b")
    assert doubled == pytest.approx(2 * plain, rel=1e-5)
    assert summary["class_weights"] == {"positive": 2.0, "negative": 2.0}


def test_balanced_weights_follow_scikit_learn(tiny_run_config, tmp_path):
    from gencls_plugins.trainers.sft.config import SFTOptions
    from gencls_plugins.trainers.stage import class_weight_of

    engine = Engine(tiny_run_config)
    ctx = engine.loaded_context("cpu", progress=False)
    labels = ctx.data.splits["train"]["label"]
    got = class_weight_of(ctx, SFTOptions(class_weights="balanced"), "sft")
    assert got == {c: pytest.approx(len(labels) / (2 * labels.count(c))) for c in set(labels)}
    with pytest.raises(ConfigError, match="class_weights name \\['neutral'\\]"):
        class_weight_of(ctx, SFTOptions(class_weights={"neutral": 2.0}), "sft")


def test_class_weighted_rewards_multiply_by_the_gold_class(tiny_run_config):
    from gencls_plugins.trainers.label_pg.config import LabelPGConfig
    from gencls_plugins.trainers.stage import class_weighted_rewards

    def constant(prompts, completions, **kwargs):
        return [1.0, None, 0.5]

    reward = ClassWeighted(CheckedReward(constant, "reward 'c'", "c", 1.0), {"positive": 4.0, "negative": 0.25})
    assert reward(["p"] * 3, ["a"] * 3, label=["positive", "negative", "negative"]) == [4.0, None, 0.125]
    engine = Engine(tiny_run_config)
    ctx = engine.loaded_context("cpu", progress=False, training=True)
    before = ctx.rewards
    with class_weighted_rewards(ctx, LabelPGConfig(class_weights={"negative": 3.0}), "label-pg") as weights:
        assert weights == {"negative": 3.0, "positive": 1.0}
        assert all(isinstance(r, ClassWeighted) and r.weights == weights for r in ctx.rewards)
    assert ctx.rewards is before
    with class_weighted_rewards(ctx, LabelPGConfig(), "label-pg") as weights:
        assert weights is None and ctx.rewards is before
