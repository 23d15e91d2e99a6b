"""Reasoning for gold answers, written by the run's model when it is told the answer (STaR's rationalisation,
arXiv 2203.14465): the think span of the answers a warm-up stage teaches when the prompt asks to reason first."""

from __future__ import annotations

import re
import string
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator

from gencls_core.contracts import check_predictions
from gencls_core.interfaces import Options
from gencls_core.results import read_jsonl, write_jsonl

if TYPE_CHECKING:
    from gencls_core.interfaces import RunContext

PROMPT = "{task}\n\nText: {text}\n\nThe correct answer is: {answer}. In one or two sentences, explain why."
START = "The answer is {answer} because"
_TAG = re.compile(r"</?\s*(guess|think|answer)\s*>", re.IGNORECASE)


def template_fields(template: str) -> set[str]:
    """The ``{placeholders}`` of a format string."""
    return {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}


class RationaleOptions(Options):
    """Where the reasoning of gold answers comes from (prompts with reasoning think or gta)."""

    source: Literal["model", "empty"] = Field("model", description="model: the run's model explains each gold "
                                                                   "answer; empty: <think></think>")
    prompt: str = Field(PROMPT, description="what the model is asked; placeholders {task}, {text}, {answer}")
    start: str = Field(START, description="how each explanation starts (the model continues it); placeholder "
                                         "{answer}")
    max_new_tokens: int = Field(48, ge=1, description="longest explanation in tokens (cut to whole sentences)")
    batch_size: int = Field(16, ge=1, description="explanations generated per generate() call")

    @field_validator("prompt")
    @classmethod
    def _placeholders(cls, value: str) -> str:
        unknown = template_fields(value) - {"task", "text", "answer"}
        if unknown or "answer" not in template_fields(value):
            raise ValueError(f"the rationale prompt needs {{answer}} and may use only {{task}}, {{text}}, "
                             f"{{answer}}; found {sorted(template_fields(value))}")
        return value

    @field_validator("start")
    @classmethod
    def _start_placeholders(cls, value: str) -> str:
        if template_fields(value) - {"answer"}:
            raise ValueError(f"the rationale start may use only {{answer}}; found {sorted(template_fields(value))}")
        return value


def clean(text: str) -> str:
    """One line without answer-form tags, cut after its last full sentence when there is one."""
    text = re.sub(r"\s+", " ", _TAG.sub(" ", text)).strip()
    end = max(text.rfind(". "), text.rfind("! "), text.rfind("? "))
    return text if text.endswith((".", "!", "?")) or end < 0 else text[:end + 1]


def rationales(ctx: RunContext, split: str, texts: list[str], labels: list[str],
               options: RationaleOptions) -> list[str]:
    """One explanation per (text, gold class); kept in ``<stage>/rationales-<split>.jsonl`` so a resumed
    stage reuses them."""
    if options.source == "empty":
        return [""] * len(texts)
    cache = ctx.stage_dir / f"rationales-{split}.jsonl" if ctx.stage_dir is not None else None
    if cache is not None and cache.is_file():
        rows = read_jsonl(cache)
        if [(r["text"], r["label"]) for r in rows] == list(zip(texts, labels)):
            return [r["rationale"] for r in rows]
    from gencls_core.chat import render_prompt
    from gencls_core.truncation import fitter_for

    answers = ctx.train_labels.answers()
    starts = [options.start.format(answer=answers[label]) for label in labels]
    fitter = fitter_for(ctx, limit=None)

    def ask(text: str, label: str) -> list[dict[str, str]]:
        content = options.prompt.format(task=ctx.data.task, text=text, answer=answers[label])
        return [{"role": "user", "content": content}]

    prompts = [render_prompt(ctx.lm.tokenizer, fitter.messages(text, lambda t, c=label: ask(t, c),
                                                               f"{split} example {i}")) + start
               for i, (text, label, start) in enumerate(zip(texts, labels, starts))]
    decoder = ctx.build("decoder", {"name": "generate", "batch_size": options.batch_size,
                                    "max_new_tokens": options.max_new_tokens}, "rationale.decoder")
    outputs = check_predictions("the rationale writer's generate decoder", decoder.decode(
        ctx.lm, prompts, ctx.train_labels, ctx), len(prompts), ctx.train_labels.labels)
    written = [clean(f"{start} {p.output or ''}") for start, p in zip(starts, outputs)]
    if cache is not None:
        write_jsonl(cache, ({"text": t, "label": c, "rationale": r} for t, c, r in zip(texts, labels, written)))
    return written
