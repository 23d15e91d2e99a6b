"""PPO's rollouts: sampling answers for a batch of prompts (optionally only the label answers), scoring them
with the run's rewards, and the log-probabilities of the sampled tokens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from gencls_core.interfaces import RunContext


@dataclass
class Rollout:
    """Prompts and sampled completions, token by token: ``ids`` = prompt (left-padded) + completion (right-
    padded); ``mask`` marks completion tokens up to and including the first end-of-sequence token. With a
    ``prefix`` (``prefix_first``), the first ``prefix`` tokens are the same in every row, the padding after them."""

    ids: torch.Tensor
    attention: torch.Tensor
    prompt_length: int
    mask: torch.Tensor
    texts: list[str]
    prefix: int = 0

    @property
    def completion(self) -> torch.Tensor:
        return self.ids[:, self.prompt_length:]


def end_ids(lm: Any) -> list[int]:
    """Every token id that ends an answer: the tokenizer's eos and the model's generation eos ids."""
    ids = lm.model.generation_config.eos_token_id
    ids = [] if ids is None else [ids] if isinstance(ids, int) else list(ids)
    return sorted({lm.tokenizer.eos_token_id, *ids} - {None})


def sample(lm: Any, prompts: list[str], max_new_tokens: int, temperature: float, tree: Any = None) -> Rollout:
    """Sample one completion per rendered prompt; with a ``PrefixTree``, only its token sequences (the label
    answers)."""
    tok = lm.tokenizer
    side, tok.padding_side = tok.padding_side, "left"
    try:
        enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(lm.model.device)
    finally:
        tok.padding_side = side
    stops = end_ids(lm)
    pad = tok.pad_token_id if tok.pad_token_id is not None else stops[0]
    length = enc["input_ids"].shape[1]
    constraint = {"prefix_allowed_tokens_fn": lambda _b, ids: tree.allowed(ids[length:].tolist())} if tree else {}
    with torch.no_grad():
        out = lm.model.generate(**enc, do_sample=True, temperature=temperature, top_k=0, top_p=1.0,
                                max_new_tokens=max_new_tokens, eos_token_id=stops, pad_token_id=pad, **constraint)
    completion = out[:, length:]
    is_end = torch.isin(completion, torch.tensor(stops, device=completion.device))
    first_end = torch.where(is_end.any(1), is_end.float().argmax(1), completion.shape[1] - 1)
    mask = (torch.arange(completion.shape[1], device=completion.device)[None] <= first_end[:, None]).long()
    texts = [tok.decode(c[m.bool()], skip_special_tokens=True) for c, m in zip(completion, mask)]
    return Rollout(out, torch.cat([enc["attention_mask"], mask], 1), length, mask, texts)


def prefix_first(rollout: Rollout) -> Rollout:
    """The rollout with the prompt tokens every row starts with moved before each row's left padding: rows
    ``[shared prefix][padding][own prompt][completion]`` (``scoring.prefix_first``), so the prefix can be
    encoded once per batch."""
    from gencls_core import scoring

    ids, attention, shared = scoring.prefix_first(rollout.ids, rollout.attention, rollout.prompt_length)
    return Rollout(ids, attention, rollout.prompt_length, rollout.mask, rollout.texts, shared)


def score(ctx: RunContext, messages: list[list[dict[str, str]]], texts: list[str],
          labels: list[str]) -> tuple[torch.Tensor, dict[str, float | None]]:
    """The weighted reward of each completion (``gencls_core.rewards.weighted_rewards``: NaN where every reward
    returned None), and each reward's mean."""
    from gencls_core.rewards import weighted_rewards

    totals, means = weighted_rewards(ctx.rewards, messages, texts, label=labels)
    return torch.tensor([float("nan") if t is None else t for t in totals]), means


def model_inputs(rollout: Rollout, rows: torch.Tensor | None = None) -> dict[str, Any]:
    """The forward-pass inputs of the rollout's sequences (of ``rows``): ids, attention mask, positions and the
    length of the prefix every row starts with."""
    ids, attention = rollout.ids, rollout.attention
    if rows is not None:
        ids, attention = ids[rows], attention[rows]
    return {"input_ids": ids, "attention_mask": attention, "position_ids": (attention.cumsum(1) - 1).clamp(min=0),
            "prefix": rollout.prefix}


def causal_forward(model: Any, inputs: dict[str, Any], **kwargs: Any) -> Any:
    """``model`` (a causal LM) on ``model_inputs``: the shared prefix once (``scoring.prefixed_forward``); the
    output covers the columns after it."""
    from gencls_core.scoring import prefixed_forward

    return prefixed_forward(model, inputs["input_ids"], inputs["prefix"], inputs["position_ids"],
                            {"logits_to_keep": 1}, attention_mask=inputs["attention_mask"], **kwargs)


def completion_logprobs(logits: torch.Tensor, rollout: Rollout, ids: torch.Tensor, temperature: float,
                        tree: Any = None) -> torch.Tensor:
    """Log-probabilities of the completion tokens of ``ids`` given the ``logits`` of the sequences' last columns
    (at least the completion's and the one before it); with a ``PrefixTree``, of the policy restricted to its
    sequences (renormalised over the allowed tokens)."""
    from trl.trainer.utils import selective_log_softmax

    completion = ids[:, rollout.prompt_length:]
    logits = logits[:, -completion.shape[1] - 1:-1].float()
    if tree is not None:
        logits = logits.masked_fill(~allowed_tokens(tree, completion, logits.shape[-1]), float("-inf"))
    return selective_log_softmax(logits, completion, temperature=temperature)


def token_logprobs(model: Any, rollout: Rollout, temperature: float, rows: torch.Tensor | None = None,
                   tree: Any = None) -> torch.Tensor:
    """The causal LM ``model``'s log-probabilities of the completion tokens (of ``rows``), see
    ``completion_logprobs``."""
    inputs = model_inputs(rollout, rows)
    return completion_logprobs(causal_forward(model, inputs).logits, rollout, inputs["input_ids"], temperature,
                               tree)


def allowed_tokens(tree: Any, completion: torch.Tensor, vocab: int) -> torch.Tensor:
    """``[batch, length, vocab]``: which tokens the tree allows at each completion position (every token after
    the answer's end, where the rollout mask ignores them)."""
    allowed = torch.ones((*completion.shape, vocab), dtype=torch.bool, device=completion.device)
    for b, row in enumerate(completion.tolist()):
        for t in range(len(row)):
            allowed[b, t] = False
            allowed[b, t, tree.allowed(row[:t])] = True
            if row[t] in tree.end_ids:
                break
    return allowed
