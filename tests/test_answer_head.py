"""The answer-only LM head gives TRL's fused-head loss, metrics and gradients while projecting only the answer
positions: LoRA and full fine-tuning, single- and multi-token answers, left and right padding."""

import json

import pytest
import torch

from gencls_core import Engine
from gencls_plugins.trainers.sft.answer_head import answer_only_head, supports_answer_only_head


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
                                        "answer_only_head": on}]
        run_dir = Engine(tiny_run_config).run().run_dir
        history = json.loads((run_dir / "stages/1-sft/log_history.json").read_text())
        losses[on] = [h["loss"] for h in history if "loss" in h]
    assert len(losses[True]) == 6 and losses[True] == pytest.approx(losses[False], abs=1e-3)
