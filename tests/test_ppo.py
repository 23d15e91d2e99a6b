"""PPO: the arithmetic against hand-computed values, and training on a tiny model (reward rises, the
reference policy is untouched, resume continues from a checkpoint)."""

import csv
import json
from pathlib import Path

import pytest
import torch

from gencls_core import Engine
from gencls_core.errors import ConfigError
from gencls_plugins.trainers.ppo import losses as pm


def test_gae_matches_a_hand_computed_example():
    rewards = torch.tensor([[0.0, 0.0, 1.0, 0.0], [0.0, 2.0, 0.0, 0.0]])
    values = torch.tensor([[0.5, 0.6, 0.7, 0.0], [1.0, 1.0, 5.0, 5.0]])  # values after a row's end are ignored
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
    advantages, returns = pm.gae(rewards, values, mask, gamma=1.0, lam=0.5)
    # row 0: deltas 0.1, 0.1, 0.3 -> A2 = 0.3, A1 = 0.1 + 0.5 * 0.3, A0 = 0.1 + 0.5 * 0.25
    assert torch.allclose(advantages, torch.tensor([[0.225, 0.25, 0.3, 0.0], [0.5, 1.0, 0.0, 0.0]]))
    assert torch.allclose(returns, torch.tensor([[0.725, 0.85, 1.0, 0.0], [1.5, 2.0, 0.0, 0.0]]))
    discounted, _ = pm.gae(torch.tensor([[0.0, 1.0]]), torch.zeros(1, 2), torch.ones(1, 2), gamma=0.9, lam=1.0)
    assert torch.allclose(discounted, torch.tensor([[0.9, 1.0]]))


def test_clipped_policy_loss_matches_hand_computed_values():
    old = torch.zeros(1, 3)
    new = torch.log(torch.tensor([[1.5, 0.5, 1.0]]))
    advantages = torch.tensor([[1.0, -1.0, 2.0]])
    loss, clipped = pm.policy_loss(new, old, advantages, torch.ones(1, 3), clip=0.2)
    # token 1: max(-1.5, -1.2) = -1.2; token 2: max(0.5, 0.8) = 0.8; token 3: ratio 1 -> -2
    assert loss.item() == pytest.approx((-1.2 + 0.8 - 2.0) / 3)
    assert clipped.item() == pytest.approx(2 / 3)
    masked, _ = pm.policy_loss(new, old, advantages, torch.tensor([[1.0, 0.0, 0.0]]), clip=0.2)
    assert masked.item() == pytest.approx(-1.2)


def test_clipped_value_loss_matches_hand_computed_values():
    loss = pm.value_loss(torch.tensor([[0.5, -0.1]]), torch.zeros(1, 2), torch.ones(1, 2), torch.ones(1, 2), 0.2)
    # token 1: clipped value 0.2 -> max(0.25, 0.64); token 2: inside the clip -> 1.21
    assert loss.item() == pytest.approx(0.5 * (0.64 + 1.21) / 2)


def test_token_rewards_put_the_kl_penalty_on_every_token_and_the_score_on_the_last():
    rewards, kl = pm.token_rewards(torch.tensor([1.0]), torch.tensor([[-1.0, -2.0, 0.0]]),
                                   torch.tensor([[-1.5, -1.0, 0.0]]), torch.tensor([[1.0, 1.0, 0.0]]), kl_coef=0.1)
    assert torch.allclose(kl, torch.tensor([[0.5, -1.0, 0.0]]))
    assert torch.allclose(rewards, torch.tensor([[-0.05, 1.1, 0.0]]))


def test_adaptive_kl_controller_moves_towards_the_target():
    fixed = pm.KLController(0.1)
    fixed.update(50.0, 256)
    assert fixed.value == 0.1
    adaptive = pm.KLController(0.1, target=6.0, horizon=10000)
    adaptive.update(12.0, 256)  # error clipped to +0.2
    assert adaptive.value == pytest.approx(0.1 * (1 + 0.2 * 256 / 10000))
    adaptive.update(3.0, 1000)  # error -0.5 clipped to -0.2
    assert adaptive.value < 0.1 * (1 + 0.2 * 256 / 10000)


def _mostly_positive_csv(folder):
    """One-word texts, 90% labelled positive: answering 'positive' pays."""
    words = ["good", "great", "fine", "lovely", "superb", "bad", "awful", "poor", "dull", "boring"]
    path = folder / "mostly.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows([(words[i % 10], "negative" if i % 10 == 0 else "positive") for i in range(80)])
    return path


@pytest.fixture
def warm_model(tiny_run_config, tmp_path):
    """The tiny model after full SFT on one-word texts with random labels: it answers a label, either one."""
    import random

    rng = random.Random(1)
    path = tmp_path / "shuffled.csv"
    words = ["good", "great", "fine", "lovely", "superb", "bad", "awful", "poor", "dull", "boring"]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows([(words[i % 10], rng.choice(["positive", "negative"])) for i in range(80)])
    config = {**tiny_run_config, "prompt": {"name": "zero-shot", "template": "{text}"},
              "dataset": {"name": "local", "path": str(path), "task": "x"},
              "trainers": [{"name": "sft", "lora": None, "max_steps": 100, "learning_rate": 1e-2,
                            "save_steps": 1000}]}
    return Engine(config).run().run_dir / "stages/1-sft/model"


PPO = {"name": "ppo", "learning_rate": 5e-3, "batch_size": 16, "mini_batch_size": 8, "ppo_epochs": 2,
       "max_completion_length": 4, "lora": {"r": 8, "alpha": 16, "target_modules": [
           "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]}}


def _ppo_config(tiny_run_config, tmp_path, warm_model, **ppo):
    return {**tiny_run_config, "prompt": {"name": "zero-shot", "template": "{text}"},
            "model": {"name": "hf", "path": str(warm_model)},
            "dataset": {"name": "local", "path": str(_mostly_positive_csv(tmp_path)), "task": "x"},
            "trainers": [{**PPO, **ppo}]}


def test_ppo_learns_the_rewarded_answer_and_leaves_the_reference_untouched(tiny_run_config, tmp_path, warm_model):
    """On 90%-positive data the warm model prefers 'negative' (test accuracy 0.1); PPO with label-match makes
    it prefer 'positive' (0.9 on every seed tried). Judged by perplexity decoding of the test split, a
    deterministic function of the weights: the sampled per-batch reward of 16 four-token answers is too noisy
    to compare across CPUs (it passed on one machine and failed on another). Learning rate ~0: stays 0.1."""
    from peft import PeftModel

    config = _ppo_config(tiny_run_config, tmp_path, warm_model, max_steps=40)
    config["evaluate_untrained"] = True
    result = Engine(config).run()
    history = [h for h in json.loads((result.run_dir / "stages/1-ppo/log_history.json").read_text()) if "loss" in h]
    assert len(history) == 40 and {"kl", "kl_coef", "policy_loss", "value_loss", "rewards/label-match"} <= set(
        history[0])
    untrained, trained = result.stages
    assert trained["accuracy"] >= untrained["accuracy"] + 0.5, result.stages
    # the reference (adapter disabled) is the warm model, unchanged; the policy moved away from it
    from transformers import AutoModelForCausalLM

    warm = AutoModelForCausalLM.from_pretrained(warm_model)
    trained_model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(warm_model),
                                              result.run_dir / "stages/1-ppo/model")
    ids = torch.tensor([[5, 17, 42, 9, 3]])
    with torch.no_grad():
        with trained_model.disable_adapter():
            assert torch.equal(trained_model(ids).logits, warm(ids).logits)
        assert not torch.allclose(trained_model(ids).logits, warm(ids).logits, atol=1e-4)
    assert trained["train_steps"] == 40


def test_ppo_without_updates_does_not_learn(tiny_run_config, tmp_path, warm_model):
    """The control for the test above: a learning rate of ~0 leaves the answers where they were."""
    config = _ppo_config(tiny_run_config, tmp_path, warm_model, max_steps=20, learning_rate=1e-12)
    config["evaluate_untrained"] = True
    untrained, trained = Engine(config).run().stages
    assert trained["accuracy"] == untrained["accuracy"]


def test_ppo_resumes_from_its_last_checkpoint(tiny_run_config, tmp_path, warm_model):
    config = _ppo_config(tiny_run_config, tmp_path, warm_model, max_steps=4, save_steps=2, batch_size=8,
                         mini_batch_size=4)
    full = Engine(config).run()
    config["output_dir"] = str(tmp_path / "again")
    first = Engine(config).run()
    run_dir = first.run_dir
    # simulate an interruption after step 2: drop the later checkpoint and the stage's results
    import shutil

    shutil.rmtree(run_dir / "stages/1-ppo/checkpoints/checkpoint-4")
    (run_dir / "stages/1-ppo/stage.json").unlink()
    record = json.loads((run_dir / "run.json").read_text())
    (run_dir / "run.json").write_text(json.dumps({**record, "status": "failed"}))
    resumed = Engine.resume(run_dir).run()
    stage = resumed.stages[0]
    assert stage["train_steps"] == 4 and stage["train_resumed_from_step"] == 2
    history = [h for h in json.loads((run_dir / "stages/1-ppo/log_history.json").read_text()) if "loss" in h]
    reference = [h for h in json.loads((full.run_dir / "stages/1-ppo/log_history.json").read_text()) if "loss" in h]
    assert [h["step"] for h in history] == [1, 2, 3, 4]
    assert [h["reward"] for h in history] == pytest.approx([h["reward"] for h in reference])


def test_ppo_config_errors(tiny_run_config):
    tiny_run_config["trainers"] = [{"name": "ppo", "batch_size": 6, "mini_batch_size": 4, "max_steps": 1}]
    with pytest.raises(ConfigError, match=r"batch_size \(6\) must be a multiple of mini_batch_size \(4\)"):
        Engine(tiny_run_config).run()
    tiny_run_config["trainers"] = [{"name": "ppo", "constrained": True, "max_completion_length": 1}]
    with pytest.raises(ConfigError, match="constrained needs max_completion_length >= 3"):
        Engine(tiny_run_config).run()
    tiny_run_config.update(rewards=[], trainers=[{"name": "ppo", "max_steps": 1}])
    with pytest.raises(ConfigError, match="needs at least one reward"):
        Engine(tiny_run_config).run()
    assert Path(tiny_run_config["output_dir"]).is_dir()


def test_constrained_rollouts_only_answer_labels_and_score_the_restricted_policy(tiny_model_dir):
    from gencls_core.answers import PrefixTree, answer_token_ids
    from gencls_plugins.labels.names import NameLabels
    from gencls_plugins.models.hub import load_pretrained
    from gencls_plugins.trainers.ppo.rollouts import end_ids, sample, token_logprobs

    lm = load_pretrained(str(tiny_model_dir), device="cpu")
    labels = NameLabels(NameLabels.Config(display={"positive": "very good indeed"}))
    labels.setup(["negative", "positive"])
    tree = PrefixTree(answer_token_ids(lm.tokenizer, labels, end_of_answer=True), end_ids(lm))
    torch.manual_seed(0)
    prompts = ["good", "a bad film", "fine"] * 4
    free = sample(lm, prompts, 12, 1.0)
    assert sum(len(labels.find(t)) != 1 for t in free.texts) > 6  # the random model rarely names a label
    rollout = sample(lm, prompts, 12, 1.0, tree)  # room for the longest answer, 11 tokens here
    assert all(len(labels.find(t)) == 1 for t in rollout.texts)
    with torch.no_grad():
        restricted = token_logprobs(lm.model, rollout, 1.0, tree=tree)
        unrestricted = token_logprobs(lm.model, rollout, 1.0)
        logits = lm.model(input_ids=rollout.ids, attention_mask=rollout.attention,
                          position_ids=(rollout.attention.cumsum(1) - 1).clamp(min=0)).logits
    assert torch.isfinite(restricted).all()
    for b, row in enumerate(rollout.completion.tolist()):
        for t in range(int(rollout.mask[b].sum())):
            allowed = tree.allowed(row[:t])
            step = logits[b, rollout.prompt_length - 1 + t, allowed].float().log_softmax(-1)
            assert restricted[b, t].item() == pytest.approx(step[allowed.index(row[t])].item(), abs=1e-4)
            assert restricted[b, t] >= unrestricted[b, t] - 1e-5


def test_constrained_ppo_never_earns_the_invalid_answer_penalty(tiny_run_config, tmp_path):
    rewards = {}
    for constrained in (True, False):
        config = {**tiny_run_config, "prompt": {"name": "zero-shot", "template": "{text}"},
                  "trainers": [{**PPO, "max_steps": 2, "constrained": constrained, "save_steps": 100}]}
        run = Engine(config).run().run_dir
        history = json.loads((run / "stages/1-ppo/log_history.json").read_text())
        rewards[constrained] = [h["reward"] for h in history if "reward" in h]
    assert min(rewards[True]) >= -1.0  # label-match: +1 right, -1 wrong, -3 no label
    assert min(rewards[False]) < -1.0  # the random model's free answers do earn it


@pytest.mark.parametrize("attention", ["eager", "sdpa"])
def test_the_shared_prefix_gives_the_same_logprobs_values_and_gradients(tiny_model_dir, attention):
    """A rollout batch re-laid ``[shared prefix][padding][own prompt][completion]``, the prefix encoded once:
    the sampled tokens' log-probabilities (policy and reference), the values and every LoRA and value-head
    gradient equal the whole-sequence computation's."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from gencls_core.interfaces import LoadedModel
    from gencls_plugins.trainers.ppo.hf_trainer import PolicyAndValue
    from gencls_plugins.trainers.ppo.rollouts import model_inputs, prefix_first, sample, token_logprobs

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation=attention)
    policy = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    head = torch.nn.Linear(policy.config.hidden_size, 1)
    model = PolicyAndValue(policy, head).eval()
    lm = LoadedModel(policy, AutoTokenizer.from_pretrained(tiny_model_dir), None)
    shared = "Classify the sentiment of this review as positive or negative. Review: "
    rollout = sample(lm, [shared + t for t in ["good", "a long and rather dull film", "fine, I guess"]], 5, 1.0)
    moved = prefix_first(rollout)
    assert moved.prefix > 10 and moved.ids.shape == rollout.ids.shape
    assert torch.equal(moved.completion, rollout.completion)
    results = []
    for r in (rollout, moved):
        with torch.no_grad(), policy.disable_adapter():
            reference = token_logprobs(policy, r, 1.0)
        policy.zero_grad()
        head.zero_grad()
        logits, values = model(**model_inputs(r))
        completion = r.ids.shape[1] - r.prompt_length
        logprobs = token_logprobs(policy, r, 1.0)
        values = values[:, -completion - 1:-1]
        ((logprobs * r.mask).sum() + (values * r.mask).sum()).backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        results.append((reference, logprobs.detach(), values.detach(), grads))
    (ref0, lp0, v0, g0), (ref1, lp1, v1, g1) = results
    mask = rollout.mask.bool()
    assert torch.allclose(ref0[mask], ref1[mask], atol=1e-5) and torch.allclose(lp0[mask], lp1[mask], atol=1e-5)
    assert torch.allclose(v0[mask], v1[mask], atol=1e-5)
    assert g0.keys() == g1.keys() and any("lora_B" in n for n in g0)
    for name in g0:
        assert torch.allclose(g0[name], g1[name], atol=1e-5), name


def test_ppo_shares_the_prefix_by_default_and_learns_as_without_it(tiny_run_config, tmp_path, warm_model):
    """Four PPO steps: the same logged losses and KL with and without the shared prefix (no dropout in PPO's
    updates; sampling is seeded and runs on the whole prompts either way)."""
    history = {}
    for share in (None, False):
        config = _ppo_config(tiny_run_config, tmp_path, warm_model, max_steps=4, shared_prefix=share)
        config["output_dir"] = str(tmp_path / str(share))
        result = Engine(config).run()
        assert result.stages[-1]["train_shared_prefix"] is (share is None)
        history[share] = [h for h in json.loads((result.run_dir / "stages/1-ppo/log_history.json").read_text())
                          if "loss" in h]
    for key in ("policy_loss", "value_loss", "kl"):
        assert [h[key] for h in history[None]] == pytest.approx([h[key] for h in history[False]], abs=1e-4), key


def test_gradient_checkpointing_in_ppo_is_said_to_have_no_effect(tiny_run_config, tmp_path, warm_model):
    from gencls_core.errors import GenclsWarning

    config = _ppo_config(tiny_run_config, tmp_path, warm_model, max_steps=1, gradient_checkpointing=True)
    with pytest.warns(GenclsWarning, match="gradient_checkpointing has no effect here"):
        result = Engine(config).run()
    assert result.stages[-1]["train_shared_prefix"] is True
