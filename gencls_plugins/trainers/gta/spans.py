"""GTA's guess span: which tokens of a sampled answer are the guess, and the gold guess's training targets."""

from __future__ import annotations

import re
from typing import Any

import torch

_GUESS = re.compile(r"<guess>.*?(?:</guess>|$)", re.DOTALL)


def char_ends(tokenizer: Any, ids: list[int]) -> list[int]:
    """For each token, the length of the text decoded from the tokens up to and including it."""
    return [len(tokenizer.decode(ids[:k + 1], skip_special_tokens=True)) for k in range(len(ids))]


def span_mask(ends: list[int], start: int, end: int) -> list[int]:
    """1 for the tokens whose text overlaps the characters [start, end), given ``char_ends``."""
    begins = [0, *ends[:-1]]
    return [int(b < end and e > start) for b, e in zip(begins, ends)]


def guess_mask(tokenizer: Any, ids: list[int]) -> list[int]:
    """The tokens of the first ``<guess>...</guess>`` span of a completion (none if it has no guess)."""
    text = tokenizer.decode(ids, skip_special_tokens=True)
    found = _GUESS.search(text)
    if found is None:
        return [0] * len(ids)
    return span_mask(char_ends(tokenizer, ids), found.start(), found.end())


def guess_targets(tokenizer: Any, answer: str) -> tuple[list[int], list[int]]:
    """The start of a well-formed answer, ``<guess>answer</guess><think>``, as token ids, and 1 for the tokens
    the guess cross-entropy trains: those overlapping ``answer</guess>``. Tokenized as a whole, like a sampled
    answer: BPE vocabularies merge the closing ``>`` with the next tag's ``<`` (SmolLM2: ``><``), so the
    last guess token is the one the model writes there. The ids stop after the last such token."""
    opening, closed = "<guess>", f"<guess>{answer}</guess>"
    ids = tokenizer(closed + "<think>", add_special_tokens=False)["input_ids"]
    marks = span_mask(char_ends(tokenizer, ids), len(opening), len(closed))
    last = max(i for i, m in enumerate(marks) if m) + 1
    return ids[:last], marks[:last]


def guess_spans(tokenizer: Any, completion: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per completion token (rows right-padded, ``mask`` marking real tokens), 1 on the guess span."""
    guess = torch.zeros_like(mask)
    for row, (ids, m) in enumerate(zip(completion, mask)):
        kept = ids[m.bool()].tolist()
        guess[row, :len(kept)] = torch.tensor(guess_mask(tokenizer, kept), dtype=mask.dtype)
    return guess


def guess_batch(targets: list[tuple[list[int], list[int]]], first: list[bool], pad_id: int,
                device: Any) -> dict[str, torch.Tensor]:
    """The gold guesses of a batch (``guess_targets`` per row) as right-padded tensors: ``guess_ids``,
    ``guess_mask`` (real tokens), ``guess_labels`` (the trained ids, -100 elsewhere), and ``guess_first`` (1 on
    the rows whose guess is trained: the first answer sampled for each prompt, so a group counts once)."""
    width = max(len(ids) for ids, _ in targets)
    pad = [width - len(ids) for ids, _ in targets]
    rows = {
        "guess_ids": [[*ids, *[pad_id] * n] for (ids, _), n in zip(targets, pad)],
        "guess_mask": [[1] * len(ids) + [0] * n for (ids, _), n in zip(targets, pad)],
        "guess_labels": [[t if m else -100 for t, m in zip(ids, marks)] + [-100] * n
                         for (ids, marks), n in zip(targets, pad)],
    }
    out = {key: torch.tensor(value, device=device) for key, value in rows.items()}
    out["guess_first"] = torch.tensor(first, dtype=torch.long, device=device)
    return out


def guess_loss(model: Any, inputs: dict[str, torch.Tensor], rows: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of the gold guess tokens (``guess_batch``) after each prompt (``prompt_ids``,
    left-padded, ``prompt_mask``), over the selected ``rows``; logits only at the guess positions."""
    ids = torch.cat([inputs["prompt_ids"][rows], inputs["guess_ids"][rows]], 1)
    attention = torch.cat([inputs["prompt_mask"][rows], inputs["guess_mask"][rows]], 1)
    positions = (attention.long().cumsum(1) - 1).clamp(min=0)
    labels = inputs["guess_labels"][rows]
    logits = model(input_ids=ids, attention_mask=attention, position_ids=positions,
                   logits_to_keep=labels.size(1) + 1).logits[:, :-1]
    return torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=-100)
