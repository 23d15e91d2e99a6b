"""Perplexity decoding: score every label's answer by the LM's log-likelihood after the prompt, pick the best.

Normalisations: ``sum`` (total log-prob of the answer), ``mean`` (per answer token), ``char`` (per
character of the answer text). ``calibrate`` removes a per-label bias, so a label the prompt favours
regardless of the text loses that head start (see ``gencls_core/calibration.py``); ``bias`` then subtracts fixed
per-label offsets (the ``auto`` recipe fits them on the validation split).
"""

from __future__ import annotations

import math
import random
import warnings
from collections import Counter
from typing import Any, Literal

from pydantic import Field, field_validator

from gencls_core.answers import answer_token_ids
from gencls_core.calibration import batch_bias, bias_of, domain_texts, log_softmax, prior_offsets, remove
from gencls_core.errors import GenclsWarning, UsageError
from gencls_core.interfaces import Decoder, Options, Prediction
from gencls_core.scoring import cached_answer_logprobs, naive_answer_logprobs, prefix_of
from gencls_plugins.decoders.batches import batches

Calibration = Literal["auto", "none", "contextual", "domain", "batch", "prior"]
MIN_BATCH = 16  # fewer inputs than this give batch calibration (on the inputs) a bias made of their own classes


class Perplexity(Decoder):
    """Pick the label whose answer the LM finds most likely (least perplexing) after the prompt."""

    name = "perplexity"

    class Config(Options):
        batch_size: int = Field(8, ge=1, description="inputs per forward pass (each scored against all labels)")
        normalize: Literal["sum", "mean", "char"] = Field(
            "sum", description="sum: total log-prob of the answer; mean: per answer token; char: per character of "
                               "the answer text. sum favours short answers (fewer tokens to pay for); mean and char "
                               "remove most of that")
        calibrate: Calibration = Field(
            "auto", description="remove a per-label bias b from log p(label / x). auto: batch for a model no stage "
                                "has trained (zero-shot; uncalibrated, with a warning, for fewer than 16 inputs), "
                                "none for a trained one (measured in docs/benchmarks.md); contextual (Zhao et al., "
                                "2021): b from the content_free inputs; domain (Fei et al., 2023): from "
                                "domain_samples strings of random words of the training texts; batch (Zhou et al., "
                                "2023): from the inputs being decoded (or fit_size training texts, fit_on train); "
                                "prior: offsets fitted on fit_size training texts so the labels predicted for them "
                                "follow the training label distribution. true means contextual")
        bias: dict[str, float] | None = Field(
            None, description="per-label offsets subtracted from every input's (calibrated) log label distribution, "
                              "one per label; the auto recipe fits them on the validation split so the predicted "
                              "labels follow the training label distribution")
        content_free: list[str] = Field(["N/A", "", "[MASK]"], min_length=1,
                                        description="contextual: content-free texts whose mean label distribution "
                                                    "is divided out")
        domain_samples: int = Field(20, ge=1, description="domain: random-word inputs averaged")
        domain_length: int | None = Field(None, ge=1, description="domain: words per input (null: the mean "
                                                                  "training text length)")
        fit_on: Literal["inputs", "train"] = Field(
            "inputs", description="batch: estimate the bias from the inputs of each decode call, or once from "
                                  "fit_size training texts (the same for every call, e.g. predict on one text)")
        fit_size: int = Field(200, ge=1, description="training texts (a seeded sample) that prior, domain's word "
                                                     "pool and batch with fit_on train read")
        end_of_answer: bool = Field(
            True, description="score the answer followed by the chat template's end-of-turn marker, so a label "
                              "that is a prefix of a longer answer is not favoured")
        method: Literal["cached", "naive"] = Field(
            "cached", description="cached: one forward pass per batch: each prompt once, every class's answer "
                                  "tokens but the last packed behind it (a block-diagonal mask keeps the answers "
                                  "apart), logits only where an answer token is predicted. naive: one full "
                                  "forward pass per (input, class), the reference the tests compare against")
        shared_prefix: bool = Field(
            True, description="cached method: the tokens every prompt of the run starts with (chat template, "
                              "instructions, answer list, fixed demonstrations) are encoded once; each batch expands "
                              "that cache and runs only its prompts' own tokens (the same scores, tested)")

        @field_validator("calibrate", mode="before")
        @classmethod
        def _boolean(cls, value: Any) -> Any:
            return {True: "contextual", False: "none"}.get(value, value) if isinstance(value, bool) else value

    def __init__(self, config=None) -> None:
        super().__init__(config)
        self._fitted: dict[tuple[str, tuple[str, ...]], list[float]] = {}  # bias per (method, classes), frozen model

    def uses_train_split(self) -> bool:
        c = self.config
        return c.calibrate in ("domain", "prior") or (c.calibrate in ("batch", "auto") and c.fit_on == "train")

    def shardable(self, ctx) -> bool:
        return not (self._calibration(ctx) == "batch" and self.config.fit_on == "inputs")

    def _calibration(self, ctx, inputs: int | None = None) -> str:
        """The calibration applied: ``auto`` is batch before any training, none after (and, for fewer than
        MIN_BATCH ``inputs``, none with a warning when fitted on them)."""
        c = self.config
        if c.calibrate != "auto":
            return c.calibrate
        if ctx.trained:
            return "none"
        if inputs is not None and inputs < MIN_BATCH and c.fit_on == "inputs":
            warnings.warn(f"decoder.calibrate=auto: {inputs} input(s) are too few to fit batch calibration on, so "
                          f"they are decoded uncalibrated; to calibrate a handful of texts from an untrained model "
                          f"set decoder.calibrate=batch and decoder.fit_on=train", GenclsWarning, stacklevel=3)
            return "none"
        return "batch"

    def decode(self, lm, prompts, labels, ctx):
        classes = labels.labels
        answers = answer_token_ids(lm.tokenizer, labels, self.config.end_of_answer)
        chars = [max(len(labels.verbalize(c)), 1) for c in classes]
        rows = self._scores(lm, prompts, answers, chars, ctx, "perplexity")
        return self.predictions(rows, classes, lambda texts: self._scores(
            lm, [ctx.render(t) for t in texts], answers, chars, ctx, "calibrate"), ctx)

    def predictions(self, rows, classes, score_texts, ctx) -> list[Prediction]:
        """Predictions from the label scores of each input, calibrated as configured (``score_texts`` scores
        other texts with the same prompt): the best label, the scores and their softmax."""
        method = self._calibration(ctx, len(rows))
        if method == "batch" and self.config.fit_on == "inputs" and len(rows) < MIN_BATCH:
            warnings.warn(f"decoder.calibrate=batch is fitted on the {len(rows)} input(s) being decoded, too few: "
                          f"their own classes become the bias removed; set decoder.fit_on=train", GenclsWarning,
                          stacklevel=2)
        if method != "none":
            rows = remove(rows, self._bias(rows, score_texts, classes, ctx, method))
        if self.config.bias is not None:
            rows = remove(rows, self._fixed_bias(classes))
        out: list[Prediction] = []
        for row in rows:
            scores = dict(zip(classes, row))
            probs = dict(zip(classes, (math.exp(v) for v in log_softmax(row))))
            out.append(Prediction(label=max(scores, key=scores.get), scores=scores, probs=probs))
        return out

    def _fixed_bias(self, classes: list[str]) -> list[float]:
        """``bias`` in the order of ``classes``, which it must name exactly."""
        bias = self.config.bias or {}
        if set(bias) != set(classes):
            raise UsageError(f"decoder.bias names {sorted(bias)} but the labels are {sorted(classes)}: give one "
                             f"offset per label")
        return [bias[c] for c in classes]

    def _bias(self, rows, score_texts, classes, ctx, method: str) -> list[float]:
        """``calibration_bias``; one fitted without the inputs is kept for later calls while the model is frozen
        (predict, serve), so a request does not score the fitting texts again."""
        if (method == "batch" and self.config.fit_on == "inputs") or not ctx.frozen:
            return self.calibration_bias(rows, score_texts, classes, ctx, method)
        key = (method, tuple(classes))
        if key not in self._fitted:
            self._fitted[key] = self.calibration_bias(rows, score_texts, classes, ctx, method)
        return self._fitted[key]

    def calibration_bias(self, rows, score_texts, classes, ctx, method: str) -> list[float]:
        """The per-label bias calibration ``method`` removes; ``score_texts`` scores other texts with the same
        prompt."""
        c = self.config
        if method == "batch" and c.fit_on == "inputs":
            return batch_bias(rows)
        if ctx.render is None:
            raise UsageError(f"decoder.calibrate={method} needs the engine's prompt renderer (ctx.render)")
        if method == "contextual":
            return bias_of(score_texts(c.content_free))
        texts = self._train_sample(ctx)
        if method == "domain":
            return bias_of(score_texts(domain_texts(texts, c.domain_samples, c.domain_length, ctx.seed)))
        if method == "batch":
            return batch_bias(score_texts(texts))
        counts = Counter(ctx.data.splits["train"]["label"])
        missing = [k for k in classes if not counts[k]]
        if missing:
            raise UsageError(f"decoder.calibrate=prior: no training example of {missing}, so the training label "
                             f"distribution gives them no mass; use another calibration")
        total = sum(counts[k] for k in classes)
        return prior_offsets(score_texts(texts), [counts[k] / total for k in classes])

    def _train_sample(self, ctx) -> list[str]:
        """A seeded sample of ``fit_size`` training texts."""
        train = (ctx.data.splits if ctx.data is not None else {}).get("train")
        if train is None or len(train) == 0:
            raise UsageError(f"decoder.calibrate={self.config.calibrate} fits on the training split, and this run "
                             f"has none; use calibrate contextual or batch")
        picked = sorted(random.Random(ctx.seed).sample(range(len(train)), min(self.config.fit_size, len(train))))
        return list(train.select(picked)["text"])

    def _scores(self, lm, prompts, answers, chars, ctx, desc) -> list[list[float]]:
        """Normalised score per prompt, per label. Prompts are batched in length order to limit padding."""
        tok, c = lm.tokenizer, self.config
        all_ids = tok(list(prompts), add_special_tokens=False)["input_ids"]
        order = sorted(range(len(all_ids)), key=lambda i: len(all_ids[i]))
        rows: list[list[float]] = [[] for _ in all_ids]
        prefix = prefix_of(lm.model, all_ids, c.method == "cached" and c.shared_prefix, keep=ctx.frozen)
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
