"""GTA's pieces as pure functions: token masks of the guess/think/answer spans, group-relative advantages,
and the rule for conflicting SFT and RL gradients."""

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


def group_advantages(rewards: torch.Tensor, group: int) -> torch.Tensor:
    """(reward - its group's mean) / (group std + 1e-4), groups being consecutive runs of ``group``."""
    grouped = rewards.view(-1, group)
    centred = grouped - grouped.mean(1, keepdim=True)
    return (centred / (grouped.std(1, keepdim=True) + 1e-4)).view(-1)


def combine_gradients(sft: list[torch.Tensor], rl: list[torch.Tensor], sft_weight: float, rl_weight: float,
                      rule: str) -> tuple[list[torch.Tensor], float]:
    """``sft_weight * g_sft + rl_weight * g_rl``; when the two point against each other (negative cosine),
    ``rule`` keeps only the RL gradient (``rl-only``), removes the SFT gradient's component along the RL one
    (``project``), or does nothing (``none``). Returns the gradients and the cosine."""
    dot = sum((a * b).sum() for a, b in zip(sft, rl))
    sft_norm = torch.sqrt(sum((a * a).sum() for a in sft))
    rl_sq = sum((b * b).sum() for b in rl)
    cosine = float(dot / (sft_norm * torch.sqrt(rl_sq)).clamp(min=1e-12))
    if cosine < 0 and rule == "rl-only":
        return [rl_weight * b for b in rl], cosine
    if cosine < 0 and rule == "project":
        sft = [a - (dot / rl_sq.clamp(min=1e-12)) * b for a, b in zip(sft, rl)]
    return [sft_weight * a + rl_weight * b for a, b in zip(sft, rl)], cosine
