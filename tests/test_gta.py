"""GTA: span masks, the guess cross-entropy, the gradient-conflict rule, and training on a tiny model."""

import csv
import json

import pytest
import torch

from gencls_core import Engine
from gencls_core.errors import ConfigError
from gencls_plugins.trainers.gta.conflict import combine_gradients
from gencls_plugins.trainers.gta.spans import guess_batch, guess_loss, guess_spans, guess_targets, span_mask

WELL_FORMED = "<guess>positive</guess><think>nice words</think><answer>positive</answer>"


@pytest.fixture
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def _completions(tokenizer, texts):
    """Sampled answers as TRL holds them: right-padded ids ending in EOS, and the mask of real tokens."""
    rows = [tokenizer(t, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id] for t in texts]
    width = max(len(r) for r in rows)
    ids = torch.tensor([r + [tokenizer.pad_token_id] * (width - len(r)) for r in rows])
    return ids, torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])


def test_guess_tokens_are_only_in_the_guess_span_and_the_rest_only_in_rl(tokenizer):
    completion, mask = _completions(tokenizer, [WELL_FORMED, "no structure at all"])
    guess = guess_spans(tokenizer, completion, mask)
    rl = mask * (1 - guess)  # the policy-loss mask GTATrainer gives TRL
    assert torch.equal(guess * rl, torch.zeros_like(mask)) and torch.equal(guess + rl, mask)
    assert tokenizer.decode(completion[0][guess[0].bool()].tolist()) == "<guess>positive</guess>"
    assert tokenizer.decode(completion[0][rl[0].bool()].tolist(), skip_special_tokens=True) == \
        "<think>nice words</think><answer>positive</answer>"
    assert guess[1].sum() == 0 and torch.equal(rl[1], mask[1])  # malformed: everything is RL's


def test_span_mask_marks_overlapping_tokens():
    ends = [3, 7, 10, 12]  # tokens cover [0,3) [3,7) [7,10) [10,12)
    assert span_mask(ends, 4, 9) == [0, 1, 1, 0]
    assert span_mask(ends, 0, 3) == [1, 0, 0, 0]


class MergingTokenizer:
    """Longest-match tokens over a fixed vocabulary that, like SmolLM2's, has a ``><`` token."""

    vocab = ["<", ">", "><", "</", "guess", "think", "positive", "negative", " "]

    def __call__(self, text, add_special_tokens=False):
        ids = []
        while text:
            token = max((v for v in self.vocab if text.startswith(v)), key=len)
            ids.append(self.vocab.index(token))
            text = text[len(token):]
        return {"input_ids": ids}

    def decode(self, ids, skip_special_tokens=True):
        return "".join(self.vocab[i] for i in ids)


def test_guess_targets_end_with_the_token_the_model_writes_after_the_guess():
    tok = MergingTokenizer()
    ids, marks = guess_targets(tok, "positive")
    assert [tok.vocab[i] for i in ids] == ["<", "guess", ">", "positive", "</", "guess", "><"]
    assert marks == [0, 0, 0, 1, 1, 1, 1]  # "><" closes the guess as a sampled answer does, not ">"


def test_guess_targets_match_the_guess_mask_of_a_sampled_answer(tokenizer):
    ids, marks = guess_targets(tokenizer, "positive")
    completion, mask = _completions(tokenizer, [WELL_FORMED])
    sampled = completion[0][guess_spans(tokenizer, completion, mask)[0].bool()].tolist()
    opening = len(tokenizer("<guess>", add_special_tokens=False)["input_ids"])
    assert ids == sampled and marks == [0] * opening + [1] * (len(ids) - opening)


def test_guess_loss_is_the_cross_entropy_of_the_guess_only(tiny_model_dir, tokenizer):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    heads = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in ("the film was good", "bad")]
    width = max(len(h) for h in heads)  # left-padded prompts, as TRL holds them
    inputs = {"prompt_ids": torch.tensor([[0] * (width - len(h)) + h for h in heads]),
              "prompt_mask": torch.tensor([[0] * (width - len(h)) + [1] * len(h) for h in heads]),
              **guess_batch([guess_targets(tokenizer, a) for a in ("positive", "negative")], [True, True],
                            tokenizer.pad_token_id, "cpu")}
    with torch.no_grad():
        loss = guess_loss(model, inputs, torch.tensor([True, True]))
    manual = []
    for prompt, answer in (("the film was good", "positive"), ("bad", "negative")):
        head = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        opening = tokenizer("<guess>", add_special_tokens=False)["input_ids"]
        tail = tokenizer(answer + "</guess>", add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = model(torch.tensor([head + opening + tail])).logits[0]
        logp = logits.log_softmax(-1)
        start = len(head) + len(opening)
        manual += [-logp[start - 1 + i, t].item() for i, t in enumerate(tail)]
    assert loss.item() == pytest.approx(sum(manual) / len(manual), rel=1e-4)


def test_conflicting_gradients_follow_the_rule():
    sft, rl = [torch.tensor([1.0, 0.0])], [torch.tensor([-1.0, 1.0])]  # cosine -0.707
    plain, cosine = combine_gradients(sft, rl, 1.0, 2.0, "none")
    assert cosine == pytest.approx(-2 ** -0.5) and plain[0].tolist() == [-1.0, 2.0]
    only_rl, _ = combine_gradients(sft, rl, 1.0, 2.0, "rl-only")
    assert only_rl[0].tolist() == [-2.0, 2.0]
    projected, _ = combine_gradients(sft, rl, 1.0, 2.0, "project")  # sft - (-1/2) rl = [0.5, 0.5]
    assert projected[0].tolist() == pytest.approx([0.5 - 2.0, 0.5 + 2.0])
    agreeing, cosine = combine_gradients(sft, [torch.tensor([1.0, 1.0])], 1.0, 1.0, "rl-only")
    assert cosine > 0 and agreeing[0].tolist() == [2.0, 1.0]


def test_gta_needs_a_prompt_asking_for_the_structure(tiny_run_config):
    tiny_run_config["trainers"] = [{"name": "gta", "max_steps": 1}]
    with pytest.raises(ConfigError, match="set prompt.reasoning=gta"):
        Engine(tiny_run_config).run()


def _csv(path, rows):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def test_gta_learns_the_rewarded_answer_on_a_toy_task(tiny_run_config, tmp_path):
    """Warm-up: full SFT on GTA-form answers (empty reasoning) labelled 90% negative teaches the structure and a
    wrong prior. GTA on 90%-positive data then makes the greedy answer 'positive': test accuracy 0.1 -> 0.9 on
    every seed tried, 0.1 -> 0.1 with a learning rate of ~0. (The sampled reward of 16 answers per step rose by
    0.2-0.9 between the first and last ten steps on three seeds: too close to noise to assert on any CPU; a
    100-step warm-up with random labels left the format and the prior to chance.)"""
    words = ["good", "great", "fine", "lovely", "superb", "bad", "awful", "poor", "dull", "boring"]
    mostly_negative = _csv(tmp_path / "negative.csv", [(words[i % 10], "positive" if i % 10 == 0 else "negative")
                                                       for i in range(80)])
    mostly = _csv(tmp_path / "mostly.csv", [(words[i % 10], "negative" if i % 10 == 0 else "positive")
                                            for i in range(80)])
    prompt = {"name": "zero-shot", "template": "{text}", "reasoning": "gta"}
    warm = Engine({**tiny_run_config, "prompt": prompt,
                   "dataset": {"name": "local", "path": str(mostly_negative), "task": "x"},
                   "trainers": [{"name": "sft", "lora": None, "max_steps": 200, "learning_rate": 1e-2,
                                 "save_steps": 1000, "rationales": {"source": "empty"}}]}).run()
    result = Engine({**tiny_run_config, "prompt": prompt, "evaluate_untrained": True,
                     "model": {"name": "hf", "path": str(warm.run_dir / "stages/1-sft/model")},
                     "dataset": {"name": "local", "path": str(mostly), "task": "x"},
                     "decoder": {"name": "generate", "max_new_tokens": 48},
                     "trainers": [{"name": "gta", "max_steps": 30, "learning_rate": 5e-3, "batch_size": 16,
                                   "num_generations": 4, "max_completion_length": 48,
                                   "lora": {"r": 8, "alpha": 16, "target_modules": [
                                       "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                       "down_proj"]}}]}).run()
    history = [h for h in json.loads((result.run_dir / "stages/1-gta/log_history.json").read_text()) if "loss" in h]
    assert {"sft_loss", "rl_loss", "cosine", "conflict", "rewards/gta-format/mean",
            "rewards/label-match/mean"} <= set(history[0])
    # the warm-up taught the structure: without it no sampled answer is well-formed (format reward 0)
    assert sum(h["rewards/gta-format/mean"] for h in history) / len(history) > 0.1
    untrained, trained = result.stages
    assert trained["accuracy"] >= untrained["accuracy"] + 0.5, result.stages


def test_gta_runs_the_plugins_callbacks_and_resumes_from_its_last_checkpoint(tiny_run_config):
    from pathlib import Path

    from gencls_core.plugins import PluginInfo, load_plugins
    from tests.test_trainers import _StopOnce

    stopper = _StopOnce("1-gta", fail_at=3)
    plugins = load_plugins(modules=[(PluginInfo("stopper", "tests", "stopper-dist", "1"), stopper)])
    tiny_run_config.update(prompt={"name": "zero-shot", "reasoning": "gta"},
                           trainers=[{"name": "gta", "max_steps": 4, "save_steps": 2, "batch_size": 8,
                                      "num_generations": 4, "max_completion_length": 8, "report_to": ["none"]}])
    with pytest.raises(KeyboardInterrupt):
        Engine(tiny_run_config, plugins=plugins).run()
    assert stopper.steps == [("1-gta", 1), ("1-gta", 2), ("1-gta", 3)]
    (run_dir,) = Path(tiny_run_config["output_dir"]).iterdir()
    stopper.steps.clear()
    result = Engine.resume(run_dir, plugins=plugins).run()
    assert stopper.steps == [("1-gta", 3), ("1-gta", 4)]  # from checkpoint-2
    assert result.stages[-1]["train_steps"] == 4 and result.stages[-1]["train_resumed_from_step"] == 2
