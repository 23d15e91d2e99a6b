"""The ``dpo`` stage (issue 36): pairs from the labels, TRL's loss types, the starting policy as reference."""

import json

import pytest

from gencls_core import Engine
from gencls_core.errors import ConfigError


def test_dpo_after_sft_trains_on_the_hardest_pairs_and_records_its_stage(tiny_run_config):
    tiny_run_config["trainers"] = [{"name": "sft", "max_steps": 2, "learning_rate": 5e-3},
                                   {"name": "dpo", "max_steps": 3, "learning_rate": 5e-3, "loss": "robust",
                                    "flip_rate": 0.1, "sft_weight": 0.5, "logging_steps": 1}]
    result = Engine(tiny_run_config).run()
    dpo = result.stages[-1]
    assert dpo["trainer"] == "dpo" and dpo["train_steps"] == 3
    stage = json.loads((result.run_dir / "stages/2-dpo/stage.json").read_text())
    assert stage["train"]["train_pairs"] == len(Engine(tiny_run_config).dataset().splits["train"])  # one each


def _margin(config, run_dir=None):
    """Mean log p(gold) - log p(other label) over the training texts, decoded uncalibrated."""
    import math

    plain = {**config, "decoder": {"name": "perplexity", "calibrate": "none"}}
    engine = Engine.from_run_dir(run_dir, overrides=["decoder.calibrate=none"]) if run_dir else Engine(plain)
    train = Engine(plain).dataset().splits["train"]
    probs = [p.probs for p in engine.predict(list(train["text"]))]
    return sum(math.log(p[g]) - math.log(max(v for c, v in p.items() if c != g))
               for p, g in zip(probs, train["label"])) / len(probs)


@pytest.mark.parametrize("rate", [3e-3, 1e-12])
def test_dpo_raises_the_gold_answers_margin_and_does_not_when_learning_is_off(tiny_run_config, tmp_path, rate):
    from tests.test_label_pg import _keyword_csv

    config = {**tiny_run_config, "prompt": {"name": "zero-shot", "template": "{text}"},
              "dataset": {"name": "local", "path": str(_keyword_csv(tmp_path / "words.csv")), "task": "x"}}
    before = _margin(config)
    config["trainers"] = [{"name": "dpo", "max_steps": 30, "learning_rate": rate, "batch_size": 16, "lora": None,
                           "save_steps": 1000}]
    after = _margin(config, Engine(config).run().run_dir)
    if rate > 1e-6:
        assert after > before + 1.0, (before, after)
    else:
        assert after == pytest.approx(before, abs=1e-3)


def _three_classes(tiny_run_config, tmp_path):
    """A training context on 24 texts of three classes, its config and its training prompts with labels."""
    from gencls_plugins.trainers.conversations import prompts_with_labels

    rows = [(f"{w} {i}", label) for i in range(8) for w, label in (("good", "pos"), ("bad", "neg"), ("so so", "mid"))]
    path = tmp_path / "three.csv"
    path.write_text("text,label\n" + "".join(f"{t},{c}\n" for t, c in rows))
    config = {**tiny_run_config, "dataset": {"name": "local", "path": str(path)}, "splits": {"test_size": 6}}
    ctx = Engine(config).loaded_context("cpu", progress=False, training=True)
    data = prompts_with_labels(ctx, "train", "dpo").data
    return config, ctx, data


def test_pairs_reject_the_starting_policys_most_probable_wrong_label_or_every_wrong_label(tiny_run_config, tmp_path):
    from gencls_plugins.trainers.dpo.trainer import preference_pairs

    config, ctx, data = _three_classes(tiny_run_config, tmp_path)
    every = preference_pairs(ctx, data, "all")
    assert len(every) == 2 * len(data) and all(c != r for c, r in zip(every["chosen"], every["rejected"]))
    hardest = preference_pairs(ctx, data, "hardest")
    texts = list(ctx.data.splits["train"]["text"])
    plain = Engine({**config, "decoder": {"name": "perplexity", "calibrate": "none"}}).predict(texts)
    want = [max((c for c in p.probs if c != gold), key=p.probs.get) for p, gold in zip(plain, data["label"])]
    assert [r[0]["content"] for r in hardest["rejected"]] == [ctx.train_labels.verbalize(c) for c in want]
    assert [c[0]["content"] for c in hardest["chosen"]] == [ctx.train_labels.verbalize(g) for g in data["label"]]


def test_dpo_refuses_what_it_cannot_do(tiny_run_config):
    tiny_run_config["trainers"] = [{"name": "dpo", "max_steps": 1}]
    tiny_run_config["prompt"] = {"name": "zero-shot", "reasoning": "think"}
    with pytest.raises(ConfigError, match="asks for the answer directly"):
        Engine(tiny_run_config).run()
    with pytest.raises(ConfigError, match=r"flip_rate must be in \[0, 0.5\) or 'estimate', got 0.5"):
        Engine({**tiny_run_config, "trainers": [{"name": "dpo", "flip_rate": 0.5}]})


def test_rejection_sampling_accepts_at_the_rate_rsos_formula_gives():
    import math

    import numpy as np

    from gencls_plugins.trainers.dpo.trainer import rejection_sample

    rng, runs = np.random.default_rng(0), 20000
    # one answer: each candidate, in turn, is accepted with probability exp((r - r_max) / beta)
    rewards, beta = {"a": 0.0, "b": 0.5, "c": 1.0}, 1.0
    first = [rejection_sample(rewards, beta, 1, rng)[0] for _ in range(runs)]
    p_a = math.exp(-1.0)
    p_b = (1 - p_a) * math.exp(-0.5)
    want = {"a": p_a, "b": p_b, "c": 1 - p_a - p_b}
    assert {c: first.count(c) / runs for c in rewards} == pytest.approx(want, abs=0.01)
    # a colder sampler accepts the worse answers less; asked for all, it accepts every candidate once
    cold = [rejection_sample(rewards, 0.25, 1, rng)[0] for _ in range(runs)]
    assert cold.count("a") / runs == pytest.approx(math.exp(-4.0), abs=0.01)
    assert sorted(rejection_sample(rewards, 0.1, 5, rng)) == ["a", "b", "c"]


def test_rso_pairs_reject_sampled_wrong_labels_scored_by_the_runs_rewards(tiny_run_config, tmp_path):
    from gencls_plugins.trainers.dpo.trainer import preference_pairs

    _, ctx, data = _three_classes(tiny_run_config, tmp_path)
    pairs = preference_pairs(ctx, data, "rso", candidates=8, samples=2, beta=0.5)
    verbal = {ctx.train_labels.verbalize(c): c for c in ctx.train_labels.labels}
    gold = {json.dumps(p): g for p, g in zip(data["prompt"], data["label"])}
    rejected = [(gold[json.dumps(p)], verbal[r[0]["content"]]) for p, r in zip(pairs["prompt"], pairs["rejected"])]
    # every pair prefers the gold label over a wrong one; an example gives at most rso_samples pairs
    assert rejected and all(g != r for g, r in rejected)
    assert [verbal[c[0]["content"]] for c in pairs["chosen"]] == [g for g, _ in rejected]
    assert max(sum(json.dumps(p) == json.dumps(q) for q in pairs["prompt"]) for p in data["prompt"]) <= 2
    assert preference_pairs(ctx, data, "rso", candidates=8, samples=2, beta=0.5)["rejected"] == pairs["rejected"]


def test_the_flip_rate_estimate_inverts_the_disagreement_a_noise_rate_causes():
    from gencls_plugins.trainers.dpo.trainer import flip_rate_from

    for classes, error, rate in [(2, 0.1, 0.2), (3, 0.2, 0.4), (5, 0.0, 0.3)]:
        disagreement = error + rate * (1 - error * classes / (classes - 1))  # labels flipped uniformly at `rate`
        assert flip_rate_from(disagreement, error, classes) == pytest.approx(rate)
    assert flip_rate_from(0.05, 0.1, 2) == 0.0 and flip_rate_from(0.9, 0.0, 2) == 0.45  # clamped
    assert flip_rate_from(0.6, 0.5, 2) == 0.0  # a policy at chance on validation tells nothing


def test_dpo_estimates_the_flip_rate_on_a_validation_split_it_carves(tiny_run_config):
    tiny_run_config.update(splits={**tiny_run_config.get("splits", {}), "train_label_noise": 0.3},
                           trainers=[{"name": "dpo", "max_steps": 2, "flip_rate": "estimate", "loss": "robust"}])
    result = Engine(tiny_run_config).run()
    record = json.loads((result.run_dir / "run.json").read_text())
    assert record["data"]["sizes"]["validation"] > 0  # carved from the training split, as for best_metric
    estimate = json.loads((result.run_dir / "stages/1-dpo/stage.json").read_text())["train"]["flip_rate_estimated"]
    assert 0.0 <= estimate <= 0.45


def test_class_weights_resample_the_pairs_to_their_weights():
    import datasets

    from gencls_plugins.trainers.dpo.trainer import weighted_pairs

    golds = ["rare"] * 10 + ["common"] * 90
    pairs = datasets.Dataset.from_dict({"gold": golds, "i": list(range(100))})
    balanced = {"rare": 100 / (2 * 10), "common": 100 / (2 * 90)}  # scikit-learn's balanced weights: 5 and 0.556
    resampled = weighted_pairs(pairs, balanced, seed=0)
    counts = {c: list(resampled["gold"]).count(c) for c in balanced}
    assert counts["rare"] == 50  # weight 5 exactly: every rare pair five times
    assert abs(counts["common"] - 50) <= 12  # 0.556 each in expectation: 50 of them
    assert weighted_pairs(pairs, balanced, seed=0)["i"] == resampled["i"]  # seeded
    assert weighted_pairs(pairs, {"rare": 1.0, "common": 1.0}, seed=0)["i"] == list(range(100))


def test_dpo_trains_with_class_weights_and_records_them(tiny_run_config):
    tiny_run_config["trainers"] = [{"name": "dpo", "max_steps": 1, "class_weights": {"positive": 3.0}}]
    result = Engine(tiny_run_config).run()
    train = json.loads((result.run_dir / "stages/1-dpo/stage.json").read_text())["train"]
    assert train["class_weights"] == {"negative": 1.0, "positive": 3.0} and train["train_pairs"] > 0


@pytest.mark.parametrize("head", [{}, {"shared_prefix": False}, {"answer_only_head": False}])
def test_the_robust_loss_is_chowdhury_et_als_rdpo_at_the_stages_flip_rate_and_beta(tiny_run_config, tmp_path,
                                                                                    monkeypatch, head):
    """The loss the stage trains on, for a policy moved off its reference, equals
    [(1 - e) l(b h) - e l(-b h)] / (1 - 2e), l(x) = -log sigmoid(x), h the chosen-minus-rejected log-ratio margin,
    with e the stage's flip_rate and b its beta: through the answer-only head (with and without the shared
    prefix) as through TRL's."""
    import torch
    import torch.nn.functional as F

    from gencls_core.interfaces import StageResult
    from gencls_plugins.trainers.dpo import trainer as dpo
    from gencls_plugins.trainers.dpo.config import DPOOptions

    _, ctx, _ = _three_classes(tiny_run_config, tmp_path)
    ctx.stage_dir = tmp_path / "stage"
    captured = {}

    def built(trainer, ctx, truncated):  # the stage's trainer, built as the stage builds it, not trained
        captured["t"] = trainer
        return StageResult(ctx.lm)

    monkeypatch.setattr(dpo, "run_stage", built)
    flip, beta = 0.2, 0.5
    dpo.DPO(DPOOptions(loss="robust", flip_rate=flip, beta=beta, batch_size=4, pairs="all", **head)).train(ctx)
    trainer = captured["t"]
    model = trainer.model
    torch.manual_seed(0)
    with torch.no_grad():  # LoRA B starts at zero (policy = reference): move it
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    batch = next(iter(trainer.get_train_dataloader()))
    model.eval()
    with torch.no_grad():
        loss = trainer.compute_loss(model, batch)

        def logps():
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
            token = torch.log_softmax(logits.float(), -1).gather(-1, batch["input_ids"][:, 1:, None])[..., 0]
            return (token * batch["completion_mask"][:, 1:]).sum(1).chunk(2)

        chosen, rejected = logps()
        with model.disable_adapter():
            ref_chosen, ref_rejected = logps()
    h = (chosen - ref_chosen) - (rejected - ref_rejected)
    assert h.abs().max() > 0.05  # the policy really moved
    expected = ((1 - flip) * -F.logsigmoid(beta * h) - flip * -F.logsigmoid(-beta * h)) / (1 - 2 * flip)
    assert float(loss) == pytest.approx(float(expected.mean()), rel=1e-4, abs=1e-5)
    plain = (-F.logsigmoid(beta * h)).mean()  # DPO's loss: a different number here
    assert abs(float(loss) - float(plain)) > 1e-3


@pytest.mark.parametrize("lora", [{}, {"lora": None}])
def test_dpo_shares_the_prefix_by_default_and_learns_as_with_trls_head(tiny_run_config, tmp_path, lora):
    """Three DPO-plus-SFT steps after SFT: the same logged losses, margins and chosen-answer accuracy through the
    answer-only head sharing the prompts' prefix (the default) as through TRL's head, with LoRA (the reference:
    the adapter switched off) and in full fine-tuning (the reference: a frozen copy)."""
    history = {}
    for head in ({}, {"answer_only_head": False}):
        config = {**tiny_run_config, "output_dir": str(tmp_path / str(bool(head)))}
        config["trainers"] = [{"name": "sft", "max_steps": 2, "learning_rate": 5e-3, **lora},
                              {"name": "dpo", "max_steps": 3, "learning_rate": 5e-3, "sft_weight": 0.5,
                               "logging_steps": 1, **head, **lora}]
        result = Engine(config).run()
        assert result.stages[-1]["train_shared_prefix"] is not head
        history[bool(head)] = [h for h in json.loads((result.run_dir / "stages/2-dpo/log_history.json").read_text())
                               if "loss" in h]
    assert len(history[False]) == 3
    for key in ("loss", "rewards/margins", "mean_token_accuracy", "logps/rejected"):
        assert [h[key] for h in history[False]] == pytest.approx([h[key] for h in history[True]], abs=1e-4), key
