"""Training examples in TRL's conversational formats, built with the run's training prompt and labels."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gencls_core.contracts import check_messages
from gencls_core.errors import DataError

if TYPE_CHECKING:
    import datasets

    from gencls_core.context import RunContext


def _split(ctx: RunContext, split: str, trainer: str) -> datasets.Dataset:
    data = ctx.data.splits.get(split)
    if split == "train" and (data is None or len(data) == 0):
        raise DataError(f"trainer {trainer!r} needs training examples, but the train split is empty; "
                        f"check splits.train_size and the dataset")
    return data


def _prompt(ctx: RunContext, text: str) -> list[dict[str, str]]:
    who = f"prompt strategy {ctx.train_prompt.name!r}"
    return check_messages(who, ctx.train_prompt.messages(text), text)


def prompt_completion(ctx: RunContext, split: str, trainer: str) -> datasets.Dataset | None:
    """``prompt`` (chat messages) and ``completion`` (the assistant's answer: the gold label's answer text)
    rows; TRL's SFTTrainer then computes the loss on the completion only. None for a missing split."""
    import datasets

    data = _split(ctx, split, trainer)
    if data is None or len(data) == 0:
        return None
    rows: dict[str, list[Any]] = {"prompt": [], "completion": []}
    for text, label in zip(data["text"], data["label"]):
        rows["prompt"].append(_prompt(ctx, text))
        rows["completion"].append([{"role": "assistant", "content": ctx.train_labels.verbalize(label)}])
    return datasets.Dataset.from_dict(rows)


def prompts_with_labels(ctx: RunContext, split: str, trainer: str) -> datasets.Dataset:
    """``prompt`` (chat messages) and ``label`` (gold class name, passed to rewards as ``label=``) rows."""
    import datasets

    data = _split(ctx, split, trainer)
    return datasets.Dataset.from_dict({"prompt": [_prompt(ctx, t) for t in data["text"]],
                                       "label": list(data["label"])})
