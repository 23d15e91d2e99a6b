"""Greedy generation, then parsing the answer into a label.

Outputs naming no label or several count as unparseable. With ``constrained``, decoding may only follow
the token sequences of the label answers (a prefix tree), so every output is a label; on multi-label data, those
of a set (``none``, or distinct labels joined by ``", "``). With
``shared_prefix``, the tokens all prompts start with are encoded once and every batch starts from that cache.
"""

from __future__ import annotations

import warnings

from pydantic import Field

from gencls_core.answers import PrefixTree, SetTree, answer_token_ids
from gencls_core.errors import GenclsWarning
from gencls_core.interfaces import Decoder, Options, Prediction
from gencls_core.scoring import left_padded, prefix_of
from gencls_plugins.decoders.batches import batches


class Generate(Decoder):
    """Batched greedy generation; the label scheme parses each answer (or decoding is constrained to labels)."""

    name = "generate"
    _warned = False  # the ambiguous-answers warning is given once per decoder
    _built: tuple | None = None  # (tokenizer, key, tree): the allowed answers last built

    class Config(Options):
        batch_size: int = Field(8, ge=1, description="prompts per generate() call")
        max_new_tokens: int = Field(16, ge=1, description="answer length limit in tokens")
        constrained: bool = Field(False, description="only allow the label answers' token sequences (multi-label "
                                                        "data: none, or distinct labels joined by ', ')")
        shared_prefix: bool = Field(True, description="encode the tokens all prompts start with once and start "
                                                      "every batch from their cache")

    def generated_tokens(self):
        return self.config.max_new_tokens

    def decode(self, lm, prompts, labels, ctx):
        import torch

        tok, model = lm.tokenizer, lm.model
        kwargs = {}
        self._warn_ambiguous(labels)
        if self.config.constrained:
            tree = self._tree(tok, labels, ctx)
        all_ids = tok(list(prompts), add_special_tokens=False)["input_ids"]
        prefix = prefix_of(model, all_ids, self.config.shared_prefix, keep=ctx.frozen)
        out: list[Prediction | None] = [None] * len(prompts)
        order = sorted(range(len(prompts)), key=lambda i: len(all_ids[i]))  # less padding per batch
        for chunk in batches(order, self.config.batch_size, desc="generate", progress=ctx.progress):
            enc = left_padded([all_ids[i] for i in chunk], tok.pad_token_id, prefix, model)
            width = enc["input_ids"].shape[1]
            if self.config.constrained:
                kwargs["prefix_allowed_tokens_fn"] = lambda _b, ids, start=width: tree.allowed(ids[start:].tolist())
            with torch.inference_mode():
                ids = model.generate(**enc, max_new_tokens=self.config.max_new_tokens, do_sample=False,
                                     temperature=None, top_p=None, top_k=None,
                                     pad_token_id=tok.pad_token_id, **kwargs)
            for i, text in zip(chunk, tok.batch_decode(ids[:, width:], skip_special_tokens=True)):
                found = labels.find(text)
                status = "ok" if len(found) == 1 else ("no_label" if not found else "multiple_labels")
                out[i] = Prediction(label=found[0] if len(found) == 1 else None, output=text.strip(),
                                    status=status)
        return out

    def _tree(self, tok, labels, ctx) -> PrefixTree | SetTree:
        """The allowed answers, built once per tokenizer and label answers (a set's tree checks K² joined
        answers; ``serve`` decodes per request)."""
        multi = ctx.loaded_data().multi_label
        key = (multi, tuple((c, labels.verbalize(c)) for c in labels.labels))
        if self._built is None or self._built[0] is not tok or self._built[1] != key:
            self._built = (tok, key, self._build(tok, labels, multi))
        return self._built[2]

    def _build(self, tok, labels, multi: bool) -> PrefixTree | SetTree:
        """One label's answers, or on multi-label data a set's (warning when the largest set does not fit in
        max_new_tokens)."""
        if not multi:
            return PrefixTree(answer_token_ids(tok, labels, end_of_answer=True), [tok.eos_token_id])
        tree = SetTree(tok, labels, [tok.eos_token_id])
        if tree.longest() > self.config.max_new_tokens:
            warnings.warn(f"decoder 'generate': an answer naming all {len(labels.labels)} labels takes "
                          f"{tree.longest()} tokens, more than max_new_tokens={self.config.max_new_tokens}; a "
                          f"larger set is cut (raise decoder.max_new_tokens)", GenclsWarning, stacklevel=4)
        return tree

    def _warn_ambiguous(self, labels) -> None:
        """Once per decoder: free answers that name one class inside another's answer count as several labels."""
        ambiguous = labels.ambiguous_answers()
        if self.config.constrained or not ambiguous or self._warned:
            return
        self._warned = True
        which = "; ".join(f"{labels.verbalize(k)!r} reads as {v}" for k, v in ambiguous.items())
        warnings.warn(f"free-text answers are ambiguous between these classes ({which}): an answer that is not "
                      f"exactly one class's text counts as multiple_labels. Give them distinct answer texts "
                      f"(labels.display) or decode with decoder.constrained=true or decoder=perplexity",
                      GenclsWarning, stacklevel=2)

