"""The difficulty band of the sampled RL trainers keeps exactly the training examples whose gold-answer
probability under the starting policy lies inside it."""

import statistics

import pytest

from gencls_core import Engine
from gencls_core.errors import ConfigError, DataError


def _gold_probabilities(config):
    """Computed independently: the policy's own label distribution from the naive perplexity decoder (one forward
    pass per example and label), uncalibrated (the untrained tiny model would otherwise get batch calibration)."""
    from gencls_core.chat import render_prompt
    from gencls_plugins.decoders.perplexity import Perplexity
    from gencls_plugins.trainers.conversations import prompts_with_labels

    engine = Engine(config)
    ctx = engine.loaded_context("cpu", progress=False, training=True)
    data = prompts_with_labels(ctx, "train", "grpo").data
    prompts = [render_prompt(ctx.lm.tokenizer, m) for m in data["prompt"]]
    decoder = Perplexity(Perplexity.Config(method="naive", calibrate="none"))
    predictions = decoder.decode(ctx.lm, prompts, ctx.train_labels, ctx)
    return [p.probs[gold] for p, gold in zip(predictions, data["label"])]


@pytest.mark.parametrize("trainer", [
    {"name": "grpo", "max_steps": 1, "batch_size": 4, "num_generations": 2, "max_completion_length": 2},
    {"name": "ppo", "max_steps": 1, "batch_size": 4, "mini_batch_size": 2, "max_completion_length": 2},
])
def test_the_band_keeps_exactly_the_examples_inside_it(tiny_run_config, trainer):
    probs = _gold_probabilities(tiny_run_config)
    low = statistics.median(probs)
    expected = sum(low <= p <= 1.0 for p in probs)
    assert 0 < expected < len(probs)
    tiny_run_config["trainers"] = [{**trainer, "difficulty_band": {"low": low, "high": 1.0}}]
    stage = Engine(tiny_run_config).run().stages[0]
    assert stage["train_band_kept"] == expected and stage["train_band_of"] == len(probs)
    assert stage["train_examples"] == expected


def test_a_band_must_be_ordered_and_keep_something(tiny_run_config):
    tiny_run_config["trainers"] = [{"name": "grpo", "difficulty_band": {"low": 0.8, "high": 0.2}}]
    with pytest.raises(ConfigError, match=r"low \(0.8\) must be below high \(0.2\)"):
        Engine(tiny_run_config)
    tiny_run_config["trainers"] = [{"name": "grpo", "max_steps": 1, "batch_size": 4, "num_generations": 2,
                                    "difficulty_band": {"low": 0.999, "high": 1.0}}]
    with pytest.raises(DataError, match=r"no training example has a gold-answer probability in \[0.999, 1.0\]"):
        Engine(tiny_run_config).run()
