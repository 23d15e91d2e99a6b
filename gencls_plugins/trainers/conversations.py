"""Training examples in TRL's conversational formats, built with the run's training prompt and labels."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, NamedTuple

from gencls_core.answer_forms import gold_answer
from gencls_core.contracts import check_messages
from gencls_core.errors import ConfigError, DataError
from gencls_core.label_sets import render_set
from gencls_core.long_text import reader
from gencls_core.truncation import fitter_for
from gencls_plugins.trainers.rationales import rationales

if TYPE_CHECKING:
    import datasets

    from gencls_core.interfaces import RunContext
    from gencls_plugins.trainers.rationales import RationaleOptions


class Rows(NamedTuple):
    """A split's training rows (None for a missing split) and how many of its texts were cut to fit the prompt
    budget (the stage summary's ``truncated_prompts``)."""

    data: datasets.Dataset | None
    truncated: int


def _split(ctx: RunContext, split: str, trainer: str) -> datasets.Dataset:
    data = ctx.data.splits.get(split)
    if split == "train" and (data is None or len(data) == 0):
        raise DataError(f"trainer {trainer!r} needs training examples, but the train split is empty; "
                        f"check splits.train_size and the dataset")
    return data


def _prompts(ctx: RunContext, split: str, texts: list[str],
             limit: int | None = None) -> tuple[list[list[dict[str, str]]], list[int], int]:
    """The training prompt's messages for each text, fitted to the run's truncation policy (and ``limit``), with
    the index of the text each row comes from: one row a text (its selected sentences with ``long_text.policy:
    select``), or, with ``chunks``, one for each window of a text over the budget (each with the text's label; one
    window drawn at random with ``long_text.train_windows: one``; every window with ``epoch``, whose sampler
    draws one per epoch: ``per_epoch``); and the number of texts cut."""
    who = f"prompt strategy {ctx.train_prompt.name!r}"
    fitter = fitter_for(ctx, limit)
    build = lambda t: check_messages(who, ctx.train_prompt.messages(t), t)  # noqa: E731
    long = reader(ctx.long_text, ctx.lm.tokenizer, fitter.limit, lambda: fitter.overhead(build),
                  ctx.data.splits.get("train"))
    one = split == "train" and ctx.long_text is not None and ctx.long_text.train_windows == "one"
    draw = random.Random(ctx.seed) if one else None
    out, owners = [], []
    for i, text in enumerate(texts):
        pieces = long.pieces(text)[0]
        pieces = [draw.choice(pieces)] if draw is not None and len(pieces) > 1 else pieces
        out += [fitter.messages(piece, build, f"{split} example {i}") for piece in pieces]
        owners += [i] * len(pieces)
    return out, owners, fitter.truncated


def prompt_completion(ctx: RunContext, split: str, trainer: str, reasoning: RationaleOptions,
                      max_prompt_tokens: int | None = None,
                      weights: dict[str, float] | None = None) -> Rows:
    """``prompt`` (chat messages) and ``completion`` (the gold answer in the form the prompt asks for; its
    reasoning from ``reasoning``) rows, with ``example_weight`` (the class weight of the row's label) when
    ``weights`` are given; TRL's SFTTrainer then computes the loss on the completion only. No rows for a missing
    split. Prompts are fitted to the truncation policy and ``max_prompt_tokens``."""
    import datasets

    data = _split(ctx, split, trainer)
    if data is None or len(data) == 0:
        return Rows(None, 0)
    texts, labels = list(data["text"]), list(data["label"])
    form = ctx.train_prompt.answer_form
    if ctx.loaded_data().multi_label:  # each set in a fresh seeded order: no label is learned to come first
        draw, classes = random.Random(f"label-order-{ctx.seed}-{split}"), ctx.loaded_data().labels
        completions = [render_set(label, ctx.train_labels.verbalize, classes, draw) for label in labels]
    else:
        explained = [""] * len(texts)
        if form != "direct":
            explained = rationales(ctx, split, texts, labels, reasoning)
        completions = [gold_answer(form, ctx.train_labels.verbalize(label), why)
                       for label, why in zip(labels, explained)]
    prompts, owners, cut = _prompts(ctx, split, texts, max_prompt_tokens)
    rows = {"prompt": prompts, "completion": [[{"role": "assistant", "content": completions[i]}] for i in owners]}
    if weights is not None:
        rows["example_weight"] = [weights.get(labels[i], 1.0) for i in owners]
    if per_epoch(ctx, split, trainer, True):
        rows["window_of"] = owners
    return Rows(datasets.Dataset.from_dict(rows), cut)


def per_epoch(ctx: RunContext, split: str, trainer: str, draws: bool) -> bool:
    """Whether the ``split`` rows of ``trainer`` carry ``window_of`` for a sampler drawing a window per epoch
    (``long_text.train_windows: epoch``); an error for a trainer that ``draws`` none."""
    if split != "train" or ctx.long_text is None or ctx.long_text.train_windows != "epoch":
        return False
    if not draws:
        raise ConfigError(f"long_text.train_windows: epoch draws a window of each text per epoch in sft and "
                          f"label-pg; trainer {trainer!r} does not: set train_windows to one or all")
    return True


def prompts_with_labels(ctx: RunContext, split: str, trainer: str, sets: bool = False, draws: bool = False) -> Rows:
    """``prompt`` (chat messages) and ``label`` (gold class name, passed to rewards as ``label=``; on
    multi-label data, the gold label list, for trainers that take ``sets``) rows; with ``window_of`` for a
    trainer that ``draws`` a window per epoch (``per_epoch``)."""
    import datasets

    if ctx.loaded_data().multi_label and not sets:
        raise ConfigError(f"trainer {trainer!r} trains on one gold label per text; for multi-label data train "
                          f"with sft or label-pg")
    data = _split(ctx, split, trainer)
    prompts, owners, cut = _prompts(ctx, split, list(data["text"]))
    labels = list(data["label"])
    rows = {"prompt": prompts, "label": [labels[i] for i in owners]}
    if per_epoch(ctx, split, trainer, draws):
        rows["window_of"] = owners
    return Rows(datasets.Dataset.from_dict(rows), cut)


def take_owners(data: Any) -> tuple[Any, list[int] | None]:
    """The rows without their ``window_of`` column, and that column (None when the rows have none)."""
    if data is None or "window_of" not in data.column_names:
        return data, None
    return data.remove_columns("window_of"), list(data["window_of"])
