"""Label-space policy optimisation: the objective against hand-computed values, the packed scorer against one
forward pass per answer (values and gradients), and training on a toy task."""

import csv
import json
import math

import pytest
import torch

from gencls_core import Engine
from gencls_core.errors import ConfigError
from gencls_plugins.trainers.label_pg import objective
from gencls_plugins.trainers.label_pg.packed import answer_logprobs, collate


def test_expected_reward_kl_and_entropy_match_hand_computed_values():
    logp = torch.log(torch.tensor([[0.6, 0.2]]))  # 0.2 of the mass names no label
    rewards, invalid = torch.tensor([[1.0, -1.0]]), torch.tensor([-3.0])
    # renormalized: q = (0.75, 0.25)
    assert objective.expected_reward(logp, rewards, invalid, "renormalized").item() == pytest.approx(0.5)
    # raw: 0.6 - 0.2 - 3 * 0.2
    assert objective.expected_reward(logp, rewards, invalid, "raw").item() == pytest.approx(-0.2)
    ref = torch.log(torch.tensor([[0.3, 0.3]]))
    q, q_ref = [0.75, 0.25], [0.5, 0.5]
    assert objective.kl(logp, ref, "renormalized").item() == pytest.approx(
        sum(a * math.log(a / b) for a, b in zip(q, q_ref)))
    p, p_ref = [0.6, 0.2, 0.2], [0.3, 0.3, 0.4]
    assert objective.kl(logp, ref, "raw").item() == pytest.approx(
        sum(a * math.log(a / b) for a, b in zip(p, p_ref)), rel=1e-5)
    assert objective.kl(logp, logp, "raw").item() == pytest.approx(0.0, abs=1e-6)
    assert objective.entropy(logp, "renormalized").item() == pytest.approx(-sum(a * math.log(a) for a in q))
    loss, stats = objective.loss(logp, rewards, invalid, ref, "renormalized", beta=0.1, entropy_coef=0.0)
    assert loss.item() == pytest.approx(-(0.5 - 0.1 * stats["kl"]))


@pytest.mark.parametrize("distribution", ["renormalized", "raw"])
def test_with_plus_minus_one_rewards_the_gradient_is_label_cross_entropy_weighted_by_twice_the_gold_probability(
        distribution):
    """The identity behind docs/benchmarks.md's diagnosis: J = 2 q_gold - 1, so grad J = 2 q_gold grad log q_gold,
    SFT's gradient on the label scaled by the probability the model already gives the gold label."""
    logits = torch.tensor([[2.0, 0.5, -1.0], [-3.0, 1.0, 0.0], [0.2, 0.1, 0.3]], requires_grad=True)
    gold = torch.tensor([0, 0, 2])
    logp = logits.log_softmax(-1) - (0.1 if distribution == "raw" else 0.0)  # raw: 1 - e^-0.1 names no label
    rewards = torch.where(torch.arange(3) == gold[:, None], 1.0, -1.0)
    loss, _ = objective.loss(logp, rewards, torch.full((3,), -1.0), None, distribution, beta=0.0, entropy_coef=0.0)
    (pg,) = torch.autograd.grad(loss, logits, retain_graph=True)
    gold_logp = objective._outcomes(logp, distribution).gather(1, gold[:, None])[:, 0]
    weighted_ce = -(2 * gold_logp.exp().detach() * gold_logp).mean()
    (ce,) = torch.autograd.grad(weighted_ce, logits, retain_graph=True)
    assert torch.allclose(pg, ce, atol=1e-6)
    (plain_ce,) = torch.autograd.grad(-gold_logp.mean(), logits)
    assert pg[1].norm() < 0.05 * plain_ce[1].norm()  # the misclassified example (q_gold 0.013): 1/40 of SFT's


@pytest.fixture
def tiny_lm(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    def load(attn):
        return AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation=attn)

    return load, AutoTokenizer.from_pretrained(tiny_model_dir)


def _naive(model, prompts, answers):
    """One full forward pass per (prompt, answer): the sum of the answer's token log-probabilities."""
    rows = []
    for p in prompts:
        row = []
        for a in answers:
            logits = model(input_ids=torch.tensor([p + a])).logits[0].float().log_softmax(-1)
            row.append(sum(logits[len(p) - 1 + t, tok] for t, tok in enumerate(a)))
        rows.append(torch.stack(row))
    return torch.stack(rows)


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
@pytest.mark.parametrize("answers", [[[17], [42]], [[17, 5, 9], [42], [3, 8]]])
@pytest.mark.parametrize("share", [False, True])
def test_packed_answer_logprobs_and_gradients_equal_one_pass_per_answer(tiny_lm, attn, answers, share):
    load, _ = tiny_lm
    model = load(attn)
    prompts = [[5, 17, 42, 9, 3, 11], [7, 8], [30, 31, 32, 33]]  # different lengths: left padding
    if share:  # a prefix every prompt starts with, encoded once with gradients
        prompts = [[4, 6, 2, *p] for p in prompts]
    rewards = torch.tensor([[1.0, -1.0, -1.0][:len(answers)]] * 3)
    batch = collate(prompts, answers, pad_id=0, share=share)
    assert int(batch["prefix_length"]) == (3 if share else 0)
    packed = answer_logprobs(model, batch, answers)
    naive = _naive(model, prompts, answers)
    assert torch.allclose(packed, naive, atol=1e-5)
    params = [p for p in model.parameters()]
    for distribution in ("renormalized", "raw"):
        grads = [torch.autograd.grad(objective.expected_reward(lp, rewards, torch.full((3,), -3.0), distribution).sum(),
                                     params, retain_graph=True) for lp in (packed, naive)]
        assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(*grads)), distribution


def _keyword_csv(path, relabel=None):
    words = [("good", "positive"), ("great", "positive"), ("fine", "positive"), ("lovely", "positive"),
             ("superb", "positive"), ("bad", "negative"), ("awful", "negative"), ("poor", "negative"),
             ("dull", "negative"), ("boring", "negative")]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        for i in range(80):
            word, label = words[i % 10]
            if relabel:
                label = relabel(label)
            writer.writerow([word, label])
    return path


def test_label_pg_learns_the_keyword_task_and_its_kl_starts_at_zero(tiny_run_config, tmp_path):
    """SFT on randomly labelled keywords gives a start that answers labels but knows no mapping; label-pg with
    label-match then learns it: test accuracy 0.5 -> 1.0 and the mean expected reward of the last five steps
    0.5-1.0 above the first five's on three seeds. Learning rate ~0: nothing moves.
    (From a confidently wrong start, SFT on the flipped mapping, two seeds of three stayed at accuracy 0.5
    after 60 steps: the exact gradient of the expected reward is q_gold x the SFT gradient, ~0 on confident
    mistakes; see docs/training.md.)"""
    import random

    rng = random.Random(1)
    base = {**tiny_run_config, "prompt": {"name": "zero-shot", "template": "{text}"}}
    shuffled = _keyword_csv(tmp_path / "shuffled.csv", lambda _: rng.choice(["positive", "negative"]))
    warm = Engine({**base, "dataset": {"name": "local", "path": str(shuffled), "task": "x"},
                   "trainers": [{"name": "sft", "lora": None, "max_steps": 60, "learning_rate": 1e-2,
                                 "save_steps": 1000}]}).run()
    results = {}
    for lr in (3e-3, 1e-12):
        results[lr] = Engine({**base, "output_dir": str(tmp_path / f"runs-{lr}"), "evaluate_untrained": True,
                              "model": {"name": "hf", "path": str(warm.run_dir / "stages/1-sft/model")},
                              "dataset": {"name": "local", "path": str(_keyword_csv(tmp_path / "true.csv")),
                                          "task": "x"},
                              "trainers": [{"name": "label-pg", "max_steps": 40, "learning_rate": lr, "beta": 0.05,
                                            "batch_size": 16, "logging_steps": 1, "save_steps": 1000,
                                            "lora": None}]}).run()
    untrained, trained = results[3e-3].stages
    assert trained["accuracy"] >= untrained["accuracy"] + 0.3, results[3e-3].stages
    history = json.loads((results[3e-3].run_dir / "stages/1-label-pg/log_history.json").read_text())
    rewards = [h["reward"] for h in history if "reward" in h]
    assert history[0]["kl"] == pytest.approx(0.0, abs=1e-5)  # the first batch is scored before any update
    assert sum(rewards[-5:]) / 5 > sum(rewards[:5]) / 5 + 0.3, rewards
    control = results[1e-12].stages
    assert control[1]["accuracy"] == control[0]["accuracy"]


def test_label_pg_needs_a_direct_answer_prompt_and_a_reward(tiny_run_config):
    tiny_run_config.update(prompt={"name": "zero-shot", "reasoning": "think"}, trainers=[{"name": "label-pg"}])
    with pytest.raises(ConfigError, match="label-pg' scores whole label answers"):
        Engine(tiny_run_config).run()
    tiny_run_config.update(prompt="zero-shot", rewards=[])
    with pytest.raises(ConfigError, match="needs at least one reward"):
        Engine(tiny_run_config).run()


def test_label_pg_with_a_shared_prefix_trains_on_the_same_losses(tiny_run_config, tmp_path, monkeypatch):
    import json

    from gencls_plugins.trainers.label_pg import packed

    found, length = [], packed.shared_prefix_length
    monkeypatch.setattr(packed, "shared_prefix_length", lambda prompts: found.append(length(prompts)) or found[-1])
    losses = {}
    for share in (False, True):
        tiny_run_config["output_dir"] = str(tmp_path / str(share))
        tiny_run_config["trainers"] = [{"name": "label-pg", "max_steps": 4, "logging_steps": 1, "beta": 0.1,
                                        "learning_rate": 1e-2, "shared_prefix": share}]
        run_dir = Engine(tiny_run_config).run().run_dir
        history = json.loads((run_dir / "stages/1-label-pg/log_history.json").read_text())
        losses[share] = [h["loss"] for h in history if "loss" in h]
    assert len(losses[True]) == 4 and losses[True] == pytest.approx(losses[False], abs=1e-4)
    assert found and min(found) > 5  # the reference pass and every step shared the prompts' common tokens
