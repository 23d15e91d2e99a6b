"""Log-likelihood of label answers after prompts, two ways that must agree.

``cached_answer_logprobs`` encodes each prompt once (left-padded batch, only the last position's logits),
then scores every label's remaining tokens against the prompt's key/value cache repeated once per label.
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
        n_labels, span = len(answers), max(len(a) for a in answers) - 1
        cont = torch.full((n_labels, max(span, 1)), pad_id, dtype=torch.long)
        cont_mask = torch.zeros_like(cont)
        for k, a in enumerate(answers):
            cont[k, :len(a) - 1] = torch.tensor(a[:-1], dtype=torch.long)
            cont_mask[k, :len(a) - 1] = 1
        cont, cont_mask = cont.to(device).repeat(batch, 1), cont_mask.to(device).repeat(batch, 1)
        cache = out.past_key_values
        cache.batch_repeat_interleave(n_labels)
        last = positions[:, -1:].repeat_interleave(n_labels, 0)
        rest = model(input_ids=cont, past_key_values=cache, use_cache=True,
                     attention_mask=torch.cat([mask.repeat_interleave(n_labels, 0), cont_mask], dim=1),
                     position_ids=last + 1 + torch.arange(cont.shape[1], device=device)).logits
        rest = rest.float().log_softmax(-1)
    scores: TokenLogprobs = []
    for b in range(batch):
        row = []
        for k, a in enumerate(answers):
            tail = [rest[b * n_labels + k, t, a[t + 1]].item() for t in range(len(a) - 1)]
            row.append([firsts[b, k].item(), *tail])
        scores.append(row)
    return scores


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
