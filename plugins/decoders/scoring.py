"""Log-likelihood of label answers after prompts, two ways that must agree.

``cached_answer_logprobs`` encodes each prompt once (left-padded batch, only the last position's logits),
then scores every label's remaining tokens in one more pass over the prompt's key/value cache, all labels
packed into one row with a block-diagonal mask.
When every answer is a single token, the prompt pass alone gives all scores.
``naive_answer_logprobs`` runs one full forward pass per (prompt, answer) pair: the reference.
Both return, per prompt, per answer, the list of the answer tokens' log-probabilities.
"""

from __future__ import annotations

from typing import Any

TokenLogprobs = list[list[list[float]]]  # [prompt][answer][token]


def cached_answer_logprobs(model: Any, prompt_ids: list[list[int]], answers: list[list[int]],
                           pad_id: int) -> TokenLogprobs:
    import torch

    device = model.device
    batch, width = len(prompt_ids), max(len(p) for p in prompt_ids)
    ids = torch.full((batch, width), pad_id, dtype=torch.long)
    mask = torch.zeros((batch, width), dtype=torch.long)
    for row, p in enumerate(prompt_ids):  # left padding: every prompt ends at the last column
        ids[row, width - len(p):] = torch.tensor(p)
        mask[row, width - len(p):] = 1
    ids, mask = ids.to(device), mask.to(device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    single = all(len(a) == 1 for a in answers)
    with torch.inference_mode():
        out = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=not single,
                    logits_to_keep=1)
        first = out.logits[:, -1].float().log_softmax(-1)  # predicts each answer's first token
        firsts = first[:, [a[0] for a in answers]]  # [batch, labels]
        if single:
            return [[[v] for v in row] for row in firsts.tolist()]
        rest = _continuations(model, out.past_key_values, mask, positions, answers)
    starts = [sum(len(a) - 1 for a in answers[:k]) for k in range(len(answers))]
    scores: TokenLogprobs = []
    for b in range(batch):
        row = []
        for k, a in enumerate(answers):
            tail = [rest[b, starts[k] + t, a[t + 1]].item() for t in range(len(a) - 1)]
            row.append([firsts[b, k].item(), *tail])
        scores.append(row)
    return scores


def _continuations(model: Any, cache: Any, mask: Any, positions: Any, answers: list[list[int]]) -> Any:
    """Log-probs after each answer token but the last, all answers packed into one row per prompt.

    The row holds every answer's tokens (minus the last) one after another; a block-diagonal causal mask
    lets each answer see the whole prompt and its own earlier tokens only, and each answer's positions
    restart right after the prompt. Returns ``[batch, packed_len, vocab]`` log-probs.
    """
    import torch

    device = mask.device
    tokens = [t for a in answers for t in a[:-1]]
    owner = torch.tensor([k for k, a in enumerate(answers) for _ in a[:-1]], device=device)
    offset = torch.tensor([t for a in answers for t in range(len(a) - 1)], device=device)
    batch, n = mask.shape[0], len(tokens)
    own = (owner[:, None] == owner[None, :]) & (offset[:, None] >= offset[None, :])  # [n, n]
    allowed = torch.cat([mask.bool()[:, None, :].expand(batch, n, -1), own.expand(batch, n, n)], dim=-1)
    if model.config._attn_implementation == "eager":  # eager attention adds a float mask
        allowed = torch.zeros(allowed.shape, dtype=model.dtype, device=device).masked_fill(
            ~allowed, torch.finfo(model.dtype).min)
    elif model.config._attn_implementation != "sdpa":
        raise NotImplementedError(f"packed scoring supports sdpa and eager attention, not "
                                  f"{model.config._attn_implementation!r}; use decoder.method=naive")
    logits = model(input_ids=torch.tensor([tokens], device=device).expand(batch, n), past_key_values=cache,
                   attention_mask=allowed[:, None], position_ids=positions[:, -1:] + 1 + offset[None, :],
                   use_cache=True).logits
    return logits.float().log_softmax(-1)


def naive_answer_logprobs(model: Any, prompt_ids: list[list[int]], answers: list[list[int]]) -> TokenLogprobs:
    import torch

    scores: TokenLogprobs = []
    with torch.inference_mode():
        for p in prompt_ids:
            row = []
            for a in answers:
                logits = model(input_ids=torch.tensor([p + a], device=model.device)).logits[0]
                lp = logits[len(p) - 1:len(p) + len(a) - 1].float().log_softmax(-1)
                row.append([lp[t, tok].item() for t, tok in enumerate(a)])
            scores.append(row)
    return scores
