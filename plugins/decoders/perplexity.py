"""Perplexity decoding: score every label's answer by the LM's log-likelihood after the prompt, pick the best.

Normalisations: ``sum`` (total log-prob of the answer), ``mean`` (per answer token), ``char`` (per
character of the answer text). ``calibrate`` applies contextual calibration (Zhao et al., 2021): the label
distribution the model gives content-free inputs (e.g. "N/A") is divided out, so a label the prompt favours
regardless of the text loses that head start.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field

from gencls_core.errors import UsageError
from gencls_core.interfaces import Decoder, Options, Prediction
from gencls_plugins.decoders.answers import answer_token_ids
from gencls_plugins.decoders.batches import batches
from gencls_plugins.decoders.scoring import cached_answer_logprobs, naive_answer_logprobs, prefix_of


def log_softmax(values: list[float]) -> list[float]:
    top = max(values)
    total = top + math.log(sum(math.exp(v - top) for v in values))
    return [v - total for v in values]


class Perplexity(Decoder):
    """Pick the label whose answer the LM finds most likely (least perplexing) after the prompt."""

    name = "perplexity"

    class Config(Options):
        batch_size: int = Field(8, ge=1, description="inputs per forward pass (each scored against all labels)")
        normalize: Literal["sum", "mean", "char"] = Field(
            "sum", description="sum: total log-prob of the answer; mean: per answer token; char: per character of "
                               "the answer text. sum favours short answers (fewer tokens to pay for); mean and char "
                               "remove most of that")
        calibrate: bool = Field(
            False, description="contextual calibration (Zhao et al., 2021): score the content_free inputs with the "
                               "same prompt, average their label distribution p_cf, and use log p(label / x) - "
                               "log p_cf(label); removes a prompt's bias towards one label")
        content_free: list[str] = Field(["N/A", "", "[MASK]"], min_length=1,
                                        description="content-free texts whose mean label distribution is divided out")
        end_of_answer: bool = Field(
            True, description="score the answer followed by the chat template's end-of-turn marker, so a label "
                              "that is a prefix of a longer answer is not favoured")
        method: Literal["cached", "naive"] = Field(
            "cached", description="cached: each prompt is encoded once (only the last position's logits are "
                                  "computed), then every class's remaining answer tokens run in one packed row per "
                                  "prompt over that key/value cache (a block-diagonal mask keeps the answers apart); "
                                  "single-token answers need the prompt pass alone. naive: one full forward pass per "
                                  "(input, class), the reference the tests compare against")
        shared_prefix: bool = Field(
            True, description="cached method: the tokens every prompt of the run starts with (chat template, "
                              "instructions, answer list, fixed demonstrations) are encoded once; each batch expands "
                              "that cache and runs only its prompts' own tokens (the same scores, tested)")

    def decode(self, lm, prompts, labels, ctx):
        classes = labels.labels
        answers = answer_token_ids(lm.tokenizer, labels, self.config.end_of_answer)
        chars = [max(len(labels.verbalize(c)), 1) for c in classes]
        prior = None
        if self.config.calibrate:
            if ctx.render is None:
                raise UsageError("decoder.calibrate needs the engine's prompt renderer (ctx.render)")
            cf = self._scores(lm, [ctx.render(t) for t in self.config.content_free], answers, chars, ctx, "calibrate")
            probs = [[math.exp(v) for v in log_softmax(row)] for row in cf]
            prior = [math.log(sum(col) / len(col)) for col in zip(*probs)]
        out: list[Prediction] = []
        for row in self._scores(lm, prompts, answers, chars, ctx, "perplexity"):
            if prior is not None:
                row = [v - p for v, p in zip(log_softmax(row), prior)]
            scores = dict(zip(classes, row))
            probs = dict(zip(classes, (math.exp(v) for v in log_softmax(row))))
            out.append(Prediction(label=max(scores, key=scores.get), scores=scores, probs=probs))
        return out

    def _scores(self, lm, prompts, answers, chars, ctx, desc) -> list[list[float]]:
        """Normalised score per prompt, per label. Prompts are batched in length order to limit padding."""
        tok, c = lm.tokenizer, self.config
        all_ids = tok(list(prompts), add_special_tokens=False)["input_ids"]
        order = sorted(range(len(all_ids)), key=lambda i: len(all_ids[i]))
        rows: list[list[float]] = [[] for _ in all_ids]
        prefix = prefix_of(lm.model, all_ids, c.method == "cached" and c.shared_prefix)
        for chunk in batches(order, c.batch_size, desc=desc, progress=ctx.progress):
            ids = [all_ids[i] for i in chunk]
            if c.method == "cached":
                token_lps = cached_answer_logprobs(lm.model, ids, answers, tok.pad_token_id, prefix)
            else:
                token_lps = naive_answer_logprobs(lm.model, ids, answers)
            for i, per_label in zip(chunk, token_lps):
                sums = [sum(lps) for lps in per_label]
                if c.normalize == "mean":
                    sums = [s / len(lps) for s, lps in zip(sums, per_label)]
                elif c.normalize == "char":
                    sums = [s / n for s, n in zip(sums, chars)]
                rows[i] = sums
        return rows
