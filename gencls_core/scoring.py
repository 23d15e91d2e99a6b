"""Log-likelihood of label answers after prompts, two ways that must agree.

``cached_answer_logprobs`` runs one forward pass per batch: each prompt (left-padded) followed by every
label's tokens but the last, all labels packed into the row with a block-diagonal mask, logits only at the
prompt's last position and the packed ones. When every answer is a single token, the prompt alone is enough.
With a ``SharedPrefix`` (the tokens every prompt of a run starts with: chat template, instructions, fixed
demonstrations), that prefix is encoded once and its cache is expanded over each batch, so the pass runs each
prompt's own tokens only.
``naive_answer_logprobs`` runs one full forward pass per (prompt, answer) pair: the reference.
Both return, per prompt, per answer, the list of the answer tokens' log-probabilities."""

from __future__ import annotations

import functools
import weakref
from dataclasses import dataclass
from typing import Any

TokenLogprobs = list[list[list[float]]]  # [prompt][answer][token]


@dataclass
class SharedPrefix:
    """Tokens ``ids`` that every prompt starts with, encoded once: per layer, keys and values ``[1, heads,
    len(ids), head_dim]``."""

    ids: list[int]
    layers: list[tuple[Any, Any]]


def shared_prefix_length(prompt_ids: list[list[int]]) -> int:
    """Tokens all prompts start with, leaving every prompt at least one token of its own."""
    first, n = prompt_ids[0], min(len(p) for p in prompt_ids) - 1
    for p in prompt_ids[1:]:
        n = next((i for i in range(n) if p[i] != first[i]), n)
    return max(n, 0)


@functools.cache
def cache_name() -> str:
    """The name a model's forward and ``generate`` take a key/value cache by, and its output returns it by:
    ``cache`` since transformers 5.24, ``past_key_values`` before (the old name warns from 5.24, goes in 5.40)."""
    import transformers
    from packaging.version import Version

    return "cache" if Version(transformers.__version__).release >= (5, 24) else "past_key_values"


def cached_layers(out: Any) -> list[tuple[Any, Any]]:
    """A model output's key/value cache, per layer."""
    return [(layer.keys, layer.values) for layer in getattr(out, cache_name()).layers]


def encode_prefix(model: Any, ids: list[int]) -> SharedPrefix:
    import torch

    with torch.inference_mode():
        out = model(input_ids=torch.tensor([ids], device=model.device), use_cache=True, logits_to_keep=1)
    return SharedPrefix(list(ids), cached_layers(out))


def prefix_of(model: Any, prompt_ids: list[list[int]], enabled: bool = True,
              keep: bool = False) -> SharedPrefix | None:
    """The prompts' shared prefix, encoded; None when ``enabled`` is off or they share nothing.

    With ``keep`` (a model nothing trains any more: ``ctx.frozen``), the prefix shared by several prompts (the
    chat template and instructions) is kept for the model's later calls, so a call with one prompt (``predict``
    or ``serve`` on one text) runs only the text's own tokens too."""
    if not enabled or not prompt_ids:
        return None
    kept = _KEPT.get(model) if keep else None
    if kept is not None and kept[0] == _weights_version(model) and all(
            len(p) > len(kept[1].ids) and p[:len(kept[1].ids)] == kept[1].ids for p in prompt_ids):
        return kept[1]
    shared = shared_prefix_length(prompt_ids)
    if not shared:
        return None
    prefix = encode_prefix(model, prompt_ids[0][:shared])
    if keep and len(prompt_ids) > 1:  # one prompt's "shared prefix" is itself: no use to the next call
        _KEPT[model] = (_weights_version(model), prefix)
    return prefix


# model -> (its weights' version, the prefix encoded with them); entries go with their model
_KEPT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _weights_version(model: Any) -> tuple[int, int]:
    """Changes when parameters are added or removed (an adapter injected) and with most in-place changes (a
    check on top of ``keep``, which is what makes keeping safe: optimisers may update without counting)."""
    params = list(model.parameters())
    return len(params), sum(p._version for p in params)


def left_padded(prompt_ids: list[list[int]], pad_id: int, prefix: SharedPrefix | None, model: Any) -> dict[str, Any]:
    """Model inputs for a batch: the prompts left-padded to one width (every prompt ends at the last column).
    With a shared prefix the padding goes after it (masked), and the prefix's cache, expanded over the batch,
    goes under ``cache_name()``."""
    import torch

    skip = len(prefix.ids) if prefix else 0
    if prefix and any(p[:skip] != prefix.ids for p in prompt_ids):
        raise ValueError("a prompt does not start with the shared prefix it is scored with")
    own = [p[skip:] for p in prompt_ids]
    width = max(map(len, own))
    ids = torch.full((len(own), skip + width), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    ids[:, :skip], mask[:, :skip] = torch.tensor(prefix.ids if prefix else [], dtype=torch.long), 1
    for row, p in enumerate(own):
        ids[row, skip + width - len(p):], mask[row, skip + width - len(p):] = torch.tensor(p), 1
    enc: dict[str, Any] = {"input_ids": ids.to(model.device), "attention_mask": mask.to(model.device)}
    if prefix:
        enc[cache_name()] = expanded_cache(prefix.layers, len(own), model.config)
    return enc


def expanded_cache(layers: list[tuple[Any, Any]], batch: int, config: Any) -> Any:
    """A cache holding one prefix's keys and values (``[1, heads, length, head_dim]`` per layer) for every row of
    a batch: views, not copies; gradients flowing into the views add up in the prefix's own tensors."""
    from transformers import DynamicCache

    return DynamicCache([(k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1)) for k, v in layers],
                        config=config)


def prefix_first(ids: Any, attention: Any, width: int) -> tuple[Any, Any, int]:
    """Left-padded prompts (the first ``width`` columns, ``[padding][prompt]`` in every row) re-laid
    ``[shared prefix][padding][own prompt]``, so the tokens every prompt starts with lead every row and can be
    encoded once (``prefixed_forward``); the columns after ``width`` are unchanged, and positions that follow the
    attention mask keep every token's. Returns the ids, the attention mask and the prefix's length (0: nothing
    shared, the inputs themselves)."""
    prompts = [row[:width][mask[:width].bool()].tolist() for row, mask in zip(ids, attention)]
    shared = shared_prefix_length(prompts)
    if not shared:
        return ids, attention, 0
    moved, attended = ids.clone(), attention.clone()
    for row, prompt in enumerate(prompts):
        pad = width - len(prompt)
        moved[row, :shared] = ids[row, pad:pad + shared]
        moved[row, shared:shared + pad] = ids[row, :pad]
        attended[row, :width] = 0
        attended[row, :shared] = 1
        attended[row, shared + pad:width] = 1
    return moved, attended, shared


def prefixed_forward(model: Any, input_ids: Any, prefix: int, position_ids: Any = None,
                     prefix_kwargs: dict[str, Any] | None = None, prefix_model: Any = None, **kwargs: Any) -> Any:
    """``model`` on rows that all start with the same ``prefix`` tokens, as training runs it (gradients where
    enabled): those tokens once (row 0), their keys and values expanded over the batch (``expanded_cache``), each
    row's other tokens on top; the output covers the columns after the prefix. ``kwargs`` go to that call (its
    ``attention_mask`` spans every column), ``prefix_kwargs`` to the prefix's (``logits_to_keep=1`` for a causal
    LM head), which ``prefix_model`` runs when given (the model a DDP wrapper ``model`` wraps, so the wrapper is
    called once). ``prefix`` 0: one plain call."""
    if not prefix:
        return model(input_ids=input_ids, position_ids=position_ids, **{"use_cache": False, **kwargs})
    runs = prefix_model or model
    head = runs(input_ids=input_ids[:1, :prefix], use_cache=True, **(prefix_kwargs or {}),
                position_ids=None if position_ids is None else position_ids[:1, :prefix])
    cache = expanded_cache(cached_layers(head), len(input_ids), runs.config)
    return model(input_ids=input_ids[:, prefix:], use_cache=True, **{cache_name(): cache}, **kwargs,
                 position_ids=None if position_ids is None else position_ids[:, prefix:])


def cached_answer_logprobs(model: Any, prompt_ids: list[list[int]], answers: list[list[int]],
                           pad_id: int, prefix: SharedPrefix | None = None) -> TokenLogprobs:
    import torch

    enc = left_padded(prompt_ids, pad_id, prefix, model)
    skip = len(prefix.ids) if prefix else 0
    ids, mask, cache = enc["input_ids"][:, skip:], enc["attention_mask"], enc.get(cache_name())
    positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, skip:]
    single = all(len(a) == 1 for a in answers)
    with torch.inference_mode():
        if single:
            out = model(input_ids=ids, attention_mask=mask, position_ids=positions, **{cache_name(): cache},
                        use_cache=cache is not None, logits_to_keep=1)
            firsts = out.logits[:, -1].float().log_softmax(-1)[:, [a[0] for a in answers]]
            return [[[v] for v in row] for row in firsts.tolist()]
        logp = _packed_pass(model, ids, mask, positions, cache, answers)
    firsts = logp[:, 0, [a[0] for a in answers]]  # the prompt's last position predicts each first token
    starts = [1 + sum(len(a) - 1 for a in answers[:k]) for k in range(len(answers))]
    scores: TokenLogprobs = []
    for b in range(len(prompt_ids)):
        row = []
        for k, a in enumerate(answers):
            tail = [logp[b, starts[k] + t, a[t + 1]].item() for t in range(len(a) - 1)]
            row.append([firsts[b, k].item(), *tail])
        scores.append(row)
    return scores


def _packed_pass(model: Any, ids: Any, mask: Any, positions: Any, cache: Any, answers: list[list[int]]) -> Any:
    """One forward pass over each prompt's own tokens followed by every answer's tokens but the last, packed.

    A block-diagonal causal mask lets each answer see the whole prompt (the cached shared prefix too) and its
    own earlier tokens only, and each answer's positions restart right after the prompt, so every answer is
    scored as if it followed the prompt alone. ``mask`` covers the cached prefix and the left-padded prompt
    columns, ``positions`` the prompt columns. Returns ``[batch, 1 + packed_len, vocab]`` log-probs: after the
    prompt's last token, then after each packed token.
    """
    import torch

    device = mask.device
    segments = [a[:-1] for a in answers]
    tokens = [t for a in segments for t in a]
    offset = torch.tensor([t for a in segments for t in range(len(a))], device=device)
    n, cached = len(tokens), mask.shape[1] - ids.shape[1]
    implementation = model.config._attn_implementation
    if implementation not in ("sdpa", "eager"):
        raise NotImplementedError(f"packed scoring supports sdpa and eager attention, not {implementation!r}; "
                                  f"use decoder.method=naive")
    allowed = packed_attention_mask(mask[:, cached:].bool(), segments, model.dtype, implementation, cached)
    batch = ids.shape[0]
    packed = torch.tensor([tokens], device=device).expand(batch, n)
    logits = model(input_ids=torch.cat([ids, packed], 1), **{cache_name(): cache}, attention_mask=allowed,
                   position_ids=torch.cat([positions, positions[:, -1:] + 1 + offset[None, :]], 1),
                   use_cache=cache is not None, logits_to_keep=n + 1).logits
    return logits.float().log_softmax(-1)


def packed_attention_mask(prompt_mask: Any, segments: list[list[int]], dtype: Any, implementation: str,
                          cached: int = 0) -> Any:
    """``[batch, 1, width + n, cached + width + n]`` for left-padded prompts (``prompt_mask``: their real
    tokens) followed by the ``segments`` packed one after another (n tokens): a prompt token sees the
    ``cached`` columns before it (a shared prefix's cache) and the real prompt tokens up to itself; a segment
    token sees those, the whole prompt and its own segment's earlier tokens; padding sees only the cached
    columns and itself (so no row is fully masked). Boolean for sdpa, additive float for eager."""
    import torch

    device = prompt_mask.device
    (batch, width), owner = prompt_mask.shape, [k for k, a in enumerate(segments) for _ in a]
    n, total = len(owner), width + len(owner)
    own = torch.tensor(owner, device=device)
    allowed = torch.ones(total, total, dtype=torch.bool, device=device).tril()[None].repeat(batch, 1, 1)
    allowed &= torch.cat([prompt_mask, torch.ones(batch, n, dtype=torch.bool, device=device)], 1)[:, None, :]
    allowed[:, width:, width:] &= own[:, None] == own[None, :]
    pads = ~prompt_mask
    allowed[:, :width, :width] &= ~pads[:, :, None]  # padding queries see nothing of the prompt ...
    diagonal = torch.arange(width, device=device)
    allowed[:, diagonal, diagonal] |= pads  # ... but themselves
    allowed = torch.cat([torch.ones(batch, total, cached, dtype=torch.bool, device=device), allowed], -1)
    if implementation == "eager":
        return torch.zeros(allowed.shape, dtype=dtype, device=device).masked_fill(
            ~allowed, torch.finfo(dtype).min)[:, None]
    return allowed[:, None]


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
