"""Greedy generation, then parsing the answer into a label (outputs naming no single label count as unparseable)."""

from __future__ import annotations

from pydantic import Field

from gencls_core.interfaces import Decoder, Options, Prediction
from gencls_plugins.decoders.batches import batches


class Generate(Decoder):
    """Batched greedy generation; the label scheme parses each answer."""

    name = "generate"

    class Config(Options):
        batch_size: int = Field(8, ge=1, description="prompts per generate() call")
        max_new_tokens: int = Field(16, ge=1, description="answer length limit in tokens")

    def decode(self, lm, prompts, labels, ctx):
        import torch

        tok, model = lm.tokenizer, lm.model
        side, tok.padding_side = tok.padding_side, "left"
        out: list[Prediction] = []
        try:
            for chunk in batches(prompts, self.config.batch_size, desc="generate", progress=ctx.progress):
                enc = tok(list(chunk), return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
                with torch.inference_mode():
                    ids = model.generate(**enc, max_new_tokens=self.config.max_new_tokens, do_sample=False,
                                         temperature=None, top_p=None, top_k=None, pad_token_id=tok.pad_token_id)
                texts = tok.batch_decode(ids[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
                out += [Prediction(label=labels.parse(t), output=t.strip()) for t in texts]
        finally:
            tok.padding_side = side
        return out
