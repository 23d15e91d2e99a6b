"""The answer-only LM head gives TRL's fused-head loss, metrics and gradients while projecting only the answer
positions: LoRA and full fine-tuning, single- and multi-token answers, left and right padding."""

import json
import warnings

import pytest
import torch

from gencls_core import Engine
from gencls_plugins.trainers.answer_head import answer_only_head, supports_answer_only_head


def _batch(pad_side, answer_tokens):
    """Three rows of different lengths; labels only on the last ``answer_tokens`` real tokens of each."""
    lengths = [12, 7, 9]
    width = max(lengths)
    ids = torch.zeros(3, width, dtype=torch.long)
    attention = torch.zeros(3, width, dtype=torch.long)
    labels = torch.full((3, width), -100)
    gen = torch.Generator().manual_seed(0)
    for row, n in enumerate(lengths):
        tokens = torch.randint(3, 300, (n,), generator=gen)
        span = slice(width - n, width) if pad_side == "left" else slice(0, n)
        ids[row, span], attention[row, span] = tokens, 1
        end = span.stop
        labels[row, end - answer_tokens:end] = tokens[-answer_tokens:]
    positions = (attention.cumsum(1) - 1).clamp(min=0)
    return {"input_ids": ids, "attention_mask": attention, "position_ids": positions, "labels": labels}


def _model(tiny_model_dir, lora):
    from transformers import AutoModelForCausalLM
    from trl.trainer.utils import add_fused_lm_head

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    add_fused_lm_head(model, outputs=("log_probs", "entropy", "is_top1"))  # as SFTTrainer does
    if lora:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                 init_lora_weights=False))
    return model


@pytest.mark.parametrize("lora", [False, True])
@pytest.mark.parametrize("pad_side", ["left", "right"])
@pytest.mark.parametrize("answer_tokens", [1, 3])
def test_answer_only_head_equals_trls_fused_head(tiny_model_dir, lora, pad_side, answer_tokens):
    batch = _batch(pad_side, answer_tokens)
    model = _model(tiny_model_dir, lora)
    trainable = [p for p in model.parameters() if p.requires_grad]

    def run():
        model.zero_grad()
        out = model(**batch, fused_lm_head=True)
        out.loss.backward()
        return out, [p.grad.clone() for p in trainable]

    reference, ref_grads = run()
    causal = model.get_base_model() if lora else model
    assert supports_answer_only_head(causal)
    answer_only_head(causal)
    ours, grads = run()
    assert torch.allclose(ours.loss, reference.loss, atol=1e-6)
    assert torch.equal(ours.label_mask, reference.label_mask)
    for field in ("log_probs", "entropy", "is_top1"):
        assert torch.allclose(getattr(ours, field).float(), getattr(reference, field).float(), atol=1e-5), field
    assert all(torch.allclose(g, r, atol=1e-6) for g, r in zip(grads, ref_grads))
    plain = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])  # generation path intact
    assert plain.logits.shape == (3, batch["input_ids"].shape[1], causal.config.vocab_size)


def test_sft_losses_are_the_same_with_and_without_the_answer_only_head(tiny_run_config, tmp_path):
    losses = {}
    for on in (True, False):
        tiny_run_config["output_dir"] = str(tmp_path / str(on))
        tiny_run_config["trainers"] = [{"name": "sft", "max_steps": 6, "logging_steps": 1, "learning_rate": 1e-2,
                                        "answer_only_head": on, "shared_prefix": False}]  # the head alone
        run_dir = Engine(tiny_run_config).run().run_dir
        history = json.loads((run_dir / "stages/1-sft/log_history.json").read_text())
        losses[on] = [h["loss"] for h in history if "loss" in h]
    assert len(losses[True]) == 6 and losses[True] == pytest.approx(losses[False], abs=1e-3)


def _shared_batch(answer_tokens, share):
    """Three right-padded rows starting with the same ``share`` tokens, labels on their last answer tokens."""
    gen = torch.Generator().manual_seed(1)
    head = torch.randint(3, 300, (share,), generator=gen)
    lengths = [share + 9, share + 4, share + 6]
    width = max(lengths)
    ids, attention = torch.zeros(3, width, dtype=torch.long), torch.zeros(3, width, dtype=torch.long)
    labels = torch.full((3, width), -100)
    for row, n in enumerate(lengths):
        tokens = torch.cat([head, torch.randint(3, 300, (n - share,), generator=gen)])
        ids[row, :n], attention[row, :n] = tokens, 1
        labels[row, n - answer_tokens:n] = tokens[-answer_tokens:]
    return {"input_ids": ids, "attention_mask": attention, "labels": labels}


@pytest.mark.parametrize("attention", ["eager", "sdpa"])
@pytest.mark.parametrize("answer_tokens", [1, 3])
@pytest.mark.parametrize("positions", [False, True])
def test_a_shared_prefix_encoded_once_gives_the_same_loss_and_gradients(tiny_model_dir, attention, answer_tokens,
                                                                        positions):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    from trl.trainer.utils import add_fused_lm_head

    from gencls_plugins.trainers.answer_head import trainable_prefix_length

    batch = _shared_batch(answer_tokens, share=10)
    if positions:  # as TRL's collator may pass them
        batch["position_ids"] = (batch["attention_mask"].cumsum(1) - 1).clamp(min=0)
    assert trainable_prefix_length(batch["input_ids"], batch["attention_mask"], batch["labels"]) == 10
    results = {}
    for share in (False, True):
        model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation=attention)
        add_fused_lm_head(model, outputs=("log_probs", "entropy", "is_top1"))
        torch.manual_seed(0)  # the same random adapter both times
        model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                 init_lora_weights=False))
        answer_only_head(model.get_base_model(), share_prefix=share)
        trainable = [p for p in model.parameters() if p.requires_grad]
        out = model(**batch, fused_lm_head=True)
        out.loss.backward()
        results[share] = (out, [p.grad.clone() for p in trainable])
    (plain, plain_grads), (shared, shared_grads) = results[False], results[True]
    assert torch.allclose(shared.loss, plain.loss, atol=1e-5)
    for field in ("log_probs", "entropy", "is_top1", "label_mask"):  # the same shapes and values as TRL's
        assert torch.allclose(getattr(shared, field).float(), getattr(plain, field).float(), atol=1e-5), field
    assert all(torch.allclose(g, r, atol=1e-5) for g, r in zip(shared_grads, plain_grads))


@pytest.mark.parametrize("attention", ["eager", "sdpa"])
def test_left_padded_prompts_share_their_prefix_with_the_same_logprobs_entropies_and_gradients(tiny_model_dir,
                                                                                                attention):
    """GRPO's batches: left-padded prompts starting with the same 10 tokens, completions of 2-3 tokens after
    them, no position ids; TRL's own fused head at temperature 0.7 is the reference."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    from trl.trainer.utils import add_fused_lm_head

    gen = torch.Generator().manual_seed(2)
    head = torch.randint(3, 300, (10,), generator=gen)
    own, completions = [9, 4, 6], [3, 2, 3]
    width = 10 + max(own)
    ids, attention_mask = torch.zeros(3, width + 3, dtype=torch.long), torch.zeros(3, width + 3, dtype=torch.long)
    for row, (n, c) in enumerate(zip(own, completions)):
        prompt = torch.cat([head, torch.randint(3, 300, (n,), generator=gen)])
        ids[row, width - len(prompt):width + c] = torch.cat([prompt, torch.randint(3, 300, (c,), generator=gen)])
        attention_mask[row, width - len(prompt):width + c] = 1
    labels = ids.masked_fill(attention_mask == 0, -100)
    labels[:, :width] = -100
    results = []
    for install in (False, True):
        model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation=attention)
        add_fused_lm_head(model, temperature=0.7, outputs=("log_probs", "entropy"))
        torch.manual_seed(0)
        model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                 init_lora_weights=False))
        if install:
            answer_only_head(model.get_base_model(), share_prefix=True, temperature=0.7)
        out = model(input_ids=ids, attention_mask=attention_mask, labels=labels, fused_lm_head=True)
        (out.log_probs.sum() + out.entropy.sum()).backward()
        results.append((out, [p.grad.clone() for p in model.parameters() if p.requires_grad]))
    (plain, plain_grads), (shared, shared_grads) = results
    scored = labels[:, 1:] != -100
    for field in ("log_probs", "entropy"):
        assert torch.allclose(getattr(shared, field)[scored], getattr(plain, field)[scored], atol=1e-5), field
    assert all(torch.allclose(g, r, atol=1e-5) for g, r in zip(shared_grads, plain_grads))


def test_the_trainable_prefix_stops_before_the_first_trained_label_and_at_padding():
    from gencls_plugins.trainers.answer_head import trainable_prefix_length

    ids = torch.tensor([[5, 6, 7, 8, 9], [5, 6, 7, 1, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]])
    labels = torch.full((2, 5), -100)
    labels[0, 4], labels[1, 3] = 9, 1
    assert trainable_prefix_length(ids, mask, labels) == 2  # row 1's label at 3 is predicted from position 2
    assert trainable_prefix_length(ids, mask.flip(1), labels) == 0  # left padding: nothing shared unpadded
    assert trainable_prefix_length(torch.tensor([[1, 2], [3, 4]]), torch.ones(2, 2), labels[:, :2]) == 0


def test_sft_with_a_shared_prefix_trains_on_the_same_losses(tiny_run_config, tmp_path, monkeypatch):
    from gencls_plugins.trainers import answer_head

    found, length = [], answer_head.trainable_prefix_length
    monkeypatch.setattr(answer_head, "trainable_prefix_length", lambda *a: found.append(length(*a)) or found[-1])
    losses = {}
    for share in (False, True):
        tiny_run_config["output_dir"] = str(tmp_path / str(share))
        tiny_run_config["trainers"] = [{"name": "sft", "max_steps": 6, "logging_steps": 1, "learning_rate": 1e-2,
                                        "shared_prefix": share, "lora": {"dropout": 0.0}}]
        run_dir = Engine(tiny_run_config).run().run_dir
        history = json.loads((run_dir / "stages/1-sft/log_history.json").read_text())
        losses[share] = [h["loss"] for h in history if "loss" in h]
    assert len(found) == 6 and min(found) > 5  # every step ran its batch's shared prompt tokens once
    assert losses[True] == pytest.approx(losses[False], abs=1e-4)


@pytest.mark.parametrize("trainer", ["sft", "label-pg"])
def test_gradient_checkpointing_turns_the_shared_prefix_off_with_a_warning_when_asked_for(tiny_run_config, tmp_path,
                                                                                          trainer):
    from gencls_core.errors import GenclsWarning

    losses = {}
    for share in (False, None, True):  # off, the default (on wherever it runs), asked for
        tiny_run_config["output_dir"] = str(tmp_path / str(share))
        tiny_run_config["trainers"] = [{"name": trainer, "max_steps": 2, "logging_steps": 1, "shared_prefix": share,
                                        "gradient_checkpointing": True, "lora": {"dropout": 0.0}}]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = Engine(tiny_run_config).run()  # the prefix pass's cache was None here: a crash
        said = [str(w.message) for w in caught if issubclass(w.category, GenclsWarning)]
        assert any("shared_prefix is off under gradient_checkpointing" in m for m in said) == bool(share)
        assert result.stages[-1]["train_shared_prefix"] is False
        history = json.loads((result.run_dir / f"stages/1-{trainer}/log_history.json").read_text())
        losses[share] = [h["loss"] for h in history if "loss" in h]
    assert losses[True] == losses[None] == losses[False]  # every prompt encoded whole, as without it


@pytest.mark.parametrize("trainer", ["sft", "label-pg"])
def test_the_shared_prefix_is_on_by_default_and_recorded(tiny_run_config, tmp_path, trainer):
    for share in (None, False):
        tiny_run_config["output_dir"] = str(tmp_path / str(share))
        tiny_run_config["trainers"] = [{"name": trainer, "max_steps": 1, "shared_prefix": share}]
        assert Engine(tiny_run_config).run().stages[-1]["train_shared_prefix"] is (share is None)


def test_the_shared_prefix_needs_the_answer_only_head(tiny_run_config):
    from gencls_core.errors import ConfigError

    tiny_run_config["trainers"] = [{"name": "sft", "max_steps": 1, "shared_prefix": True, "answer_only_head": False}]
    with pytest.raises(ConfigError, match="shared_prefix runs in the answer-only head"):
        Engine(tiny_run_config).run()
