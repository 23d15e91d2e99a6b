"""TRL's GRPOTrainer as the ``gta`` stage runs it (imported when the stage trains: registering the plugin imports
no torch)."""

from __future__ import annotations

from typing import Any

import torch
from trl import GRPOTrainer

from gencls_core.errors import ConfigError
from gencls_plugins.trainers.gta.config import GTAConfig
from gencls_plugins.trainers.gta.conflict import combine_gradients
from gencls_plugins.trainers.gta.spans import guess_batch, guess_loss, guess_spans
from gencls_plugins.trainers.stage import DecodedValidation


class GTATrainer(DecodedValidation, GRPOTrainer):
    """GRPOTrainer whose policy loss skips the sampled guess span and whose loss adds the gold guess's
    cross-entropy, combined by the conflict rule; logs ``sft_loss``, ``rl_loss``, ``cosine``, ``conflict``."""

    def __init__(self, *args: Any, options: GTAConfig, guesses: dict[str, tuple[list[int], list[int]]],
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.options, self.guesses = options, guesses
        if options.conflict != "none" and (self.is_deepspeed_enabled or self.is_fsdp_enabled):
            raise ConfigError("trainer 'gta': the conflict rule needs each process's whole gradients, which "
                              "DeepSpeed and FSDP shard; set conflict: none with them")

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        out = super()._generate_and_score_completions(inputs)
        rl = 1 - guess_spans(self.processing_class, out["completion_ids"], out["completion_mask"])
        out["tool_mask"] = out["tool_mask"] * rl if "tool_mask" in out else rl  # TRL's policy-loss mask
        out["num_items_in_batch"] = self.accelerator.gather((out["completion_mask"] * rl).sum()).sum()
        first = [i == 0 or x["prompt"] != inputs[i - 1]["prompt"] for i, x in enumerate(inputs)]
        out.update(guess_batch([self.guesses[x["label"]] for x in inputs], first,
                               self.processing_class.pad_token_id, out["prompt_ids"].device))
        return out

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        opts = self.options
        rl = self._compute_loss(model, inputs)  # already scaled for gradient accumulation
        rows = inputs["guess_first"].bool()
        if not (rows.any() and opts.sft_weight):
            return opts.rl_weight * rl
        scale = self.current_gradient_accumulation_steps if model.training else 1
        sft = guess_loss(model, inputs, rows)
        total = opts.rl_weight * rl + opts.sft_weight * sft / scale
        metrics = {"sft_loss": sft.detach(), "rl_loss": rl.detach() * scale}
        if opts.conflict != "none" and model.training:
            params = [p for p in model.parameters() if p.requires_grad]
            grads = [torch.autograd.grad(loss, params, allow_unused=True) for loss in (sft / scale, rl)]
            grads = [[g if g is not None else torch.zeros_like(p) for g, p in zip(gs, params)] for gs in grads]
            combined, cosine = combine_gradients(*grads, opts.sft_weight, opts.rl_weight, opts.conflict)
            metrics.update(cosine=torch.tensor(cosine), conflict=torch.tensor(float(cosine < 0)))
            # the combined gradient through a surrogate whose value is the loss: backward (under the
            # accelerator, so DDP reduces it) gives each parameter exactly its combined gradient
            surrogate = sum((p * g).sum() for p, g in zip(params, combined))
            total = surrogate - surrogate.detach() + total.detach()
        mode = "train" if model.training else "eval"
        for key, value in metrics.items():
            self._metrics[mode][key].append(self.accelerator.gather(value.to(rl.device)).float().mean().item())
        return total
