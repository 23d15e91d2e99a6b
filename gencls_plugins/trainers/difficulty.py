"""Spending an RL stage's budget where there is signal: keep the training examples whose gold answer gets a
probability inside a band under the stage's starting policy (perplexity decoding over the label answers:
one prompt pass per batch), i.e. the ones it is unsure or wrong about."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field, model_validator

from gencls_core.chat import render_prompt
from gencls_core.contracts import check_predictions
from gencls_core.errors import DataError
from gencls_core.interfaces import Options

if TYPE_CHECKING:
    from gencls_core.interfaces import RunContext


class DifficultyBand(Options):
    """Keep training examples whose gold-answer probability under the starting policy lies in [low, high]."""

    low: float = Field(0.0, ge=0, le=1, description="smallest gold-answer probability kept")
    high: float = Field(0.9, ge=0, le=1, description="largest gold-answer probability kept")

    @model_validator(mode="after")
    def _ordered(self) -> DifficultyBand:
        if self.low >= self.high:
            raise ValueError(f"difficulty_band: low ({self.low}) must be below high ({self.high})")
        return self


def gold_probabilities(ctx: RunContext, data: Any) -> list[float]:
    """Per row of ``data`` (``prompt`` messages, ``label``): the starting policy's probability of the gold answer
    among the label answers (perplexity decoding, uncalibrated: the distribution the policy samples from)."""
    probs = label_probabilities(ctx, list(data["prompt"]), "difficulty_band")
    return [p[gold] for p, gold in zip(probs, data["label"])]


def label_probabilities(ctx: RunContext, prompts: list[list[dict[str, str]]], who: str) -> list[dict[str, float]]:
    """The current policy's probability of each label answer after each prompt's messages: perplexity decoding,
    uncalibrated (the policy's own distribution), in eval mode, checked as the engine checks predictions; ``who``
    names the caller in errors."""
    rendered = [render_prompt(ctx.lm.tokenizer, m) for m in prompts]
    decoder = ctx.build("decoder", {"name": "perplexity", "calibrate": "none"}, f"{who}.decoder")
    training = ctx.lm.model.training
    ctx.lm.model.eval()
    try:
        predictions = check_predictions(f"{who}'s perplexity decoder", decoder.decode(
            ctx.lm, rendered, ctx.train_labels, ctx), len(rendered), ctx.train_labels.labels)
    finally:
        ctx.lm.model.train(training)
    return [p.probs or {} for p in predictions]


def keep_band(ctx: RunContext, data: Any, band: DifficultyBand | None, trainer: str) -> tuple[Any, dict[str, Any]]:
    """``data`` restricted to the band (unchanged without one), and what was kept, for the stage summary."""
    if band is None:
        return data, {}
    probs = gold_probabilities(ctx, data)
    kept = [i for i, p in enumerate(probs) if band.low <= p <= band.high]
    if not kept:
        raise DataError(f"trainer {trainer!r}: no training example has a gold-answer probability in "
                        f"[{band.low}, {band.high}] (they range from {min(probs):.3f} to {max(probs):.3f}); widen "
                        f"difficulty_band")
    return data.select(kept), {"band_kept": len(kept), "band_of": len(probs)}
