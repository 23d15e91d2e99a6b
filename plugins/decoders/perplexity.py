"""Perplexity decoding: score every label's answer by the LM's log-likelihood after the prompt, pick the best.

This is the simple, exact version: one sequence per (input, label) pair, batched and right-padded.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gencls_core.chat import answer_suffix
from gencls_core.interfaces import Decoder, Options, Prediction
from gencls_plugins.decoders.batches import batches


class Perplexity(Decoder):
    """Pick the label whose answer the LM finds most likely (least perplexing) after the prompt."""

    name = "perplexity"

    class Config(Options):
        batch_size: int = Field(4, ge=1, description="inputs per forward pass (each with all its labels)")
        normalize: Literal["sum", "mean"] = Field(
            "sum", description="sum of the answer's token log-probs, or their mean per token")
        end_of_answer: bool = Field(
            True, description="score the answer followed by the chat template's end-of-turn marker, so a label "
                              "that is a prefix of a longer answer is not favoured")

    def decode(self, lm, prompts, labels, ctx):
        import torch

        tok, model = lm.tokenizer, lm.model
        suffix = answer_suffix(tok) if self.config.end_of_answer else ""
        classes = list(labels.answers())
        answers = [tok(labels.verbalize(c) + suffix, add_special_tokens=False)["input_ids"] for c in classes]
        pad = tok.pad_token_id
        out: list[Prediction] = []
        for chunk in batches(prompts, self.config.batch_size, desc="perplexity", progress=ctx.progress):
            prompt_ids = tok(list(chunk), add_special_tokens=False)["input_ids"]
            seqs = [(p, a) for p in prompt_ids for a in answers]
            width = max(len(p) + len(a) for p, a in seqs)
            ids = torch.full((len(seqs), width), pad, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for row, (p, a) in enumerate(seqs):
                ids[row, :len(p) + len(a)] = torch.tensor(p + a)
                mask[row, :len(p) + len(a)] = 1
            with torch.inference_mode():
                logits = model(input_ids=ids.to(model.device), attention_mask=mask.to(model.device)).logits
            scores = []
            for row, (p, a) in enumerate(seqs):
                # logits at position t predict token t + 1
                step = logits[row, len(p) - 1:len(p) + len(a) - 1].float().log_softmax(-1)
                token_lp = step.gather(-1, torch.tensor(a, device=step.device)[:, None]).squeeze(-1)
                scores.append((token_lp.sum() if self.config.normalize == "sum" else token_lp.mean()).item())
            for i in range(len(chunk)):
                row = dict(zip(classes, scores[i * len(classes):(i + 1) * len(classes)]))
                out.append(Prediction(label=max(row, key=row.get), scores=row))
        return out
