"""Answer-only LM head for SFT, GRPO, GTA and DPO: run the backbone, then project through the vocabulary only the
positions whose next-token label is trained (the answer's 1-3 tokens of a ~80-token classification prompt, the
few tokens of an RL completion or of a preferred and a rejected label).

TRL's fused LM head (``trl.trainer.utils.add_fused_lm_head``) scores only those positions on Triton devices
but every position elsewhere (the CPU included), so most of its work is thrown away there. ``answer_only_head``
replaces the fused forward that SFTTrainer (GRPOTrainer, DPOTrainer) installed on its model by one with the same
contract (a ``FusedCausalLMOutput`` with ``log_probs``, ``entropy``, ``mean_logits``, ``is_top1``,
``label_mask``), which TRL's own ``compute_loss`` then uses unchanged: same loss and metrics, less work.
"""

from __future__ import annotations

import functools
import types
import warnings
from typing import Any

from gencls_core.errors import GenclsWarning
from gencls_plugins.trainers.options import AnswerHeadOptions, prefix_shared

# the inputs the shared-prefix path handles (PEFT adds the others as None; any set to a value falls back)
_PLAIN = ("input_ids", "attention_mask", "position_ids", "use_cache", "return_dict")
# config attributes that change the logits beyond ``lm_head(hidden)``: models with any of them keep TRL's head
_SCALED = ("final_logit_softcapping", "logit_scale", "output_multiplier", "lm_head_multiplier", "logits_scaling")


def supports_answer_only_head(model: Any) -> bool:
    """Whether the model's logits are ``lm_head(last_hidden_state)`` with nothing applied after."""
    config = model.config.get_text_config()
    return all(getattr(config, key, None) in (None, 1, 1.0) for key in _SCALED) and \
        model.get_output_embeddings() is not None


def trainable_prefix_length(input_ids: Any, attention_mask: Any, labels: Any) -> int:
    """Leading tokens every row of a batch shares, unpadded, before the position that predicts the first trained
    label (so every trained position is computed on top of the prefix): 0 when the rows share nothing."""
    import torch

    same = (input_ids == input_ids[:1]).all(0) & (attention_mask == 1).all(0)
    shared = int(torch.cumprod(same.int(), 0).sum())
    trained = (labels != -100).any(0).nonzero()
    return max(min(shared, int(trained[0]) - 1), 0) if len(trained) else 0


def answer_only_head(model: Any, share_prefix: bool = False, temperature: float = 1.0) -> None:
    """Make ``model(..., labels=labels, fused_lm_head=True)`` (already patched by TRL) project only the
    positions whose next-token label is not -100 (logits divided by ``temperature``, as TRL's head was told),
    each example's log-probabilities scaled by its ``example_weight`` when given (class weights). With
    ``share_prefix``, the tokens every example of a batch starts with are encoded once, with gradients, their keys
    and values expanded over the batch, and only each example's own tokens run on top (the same loss and
    gradients; LoRA dropout then draws one mask for the prefix); left-padded prompts (GRPO's) are re-laid with
    that prefix first (``scoring.prefix_first``). Other calls go to the forward it had."""
    from trl.trainer.utils import FusedCausalLMOutput

    from gencls_core.scoring import prefix_first, prefixed_forward

    fused_forward = model.forward

    @functools.wraps(type(model).forward)
    def forward(self, *args, fused_lm_head=False, labels=None, shift_labels=None, num_items_in_batch=None,
                example_weight=None, **kwargs):
        if not fused_lm_head or shift_labels is not None or kwargs.get("output_router_logits"):
            if example_weight is not None:
                raise ValueError("class_weights need the answer-only head's path (fused_lm_head, no shift_labels)")
            return fused_forward(*args, fused_lm_head=fused_lm_head, labels=labels, shift_labels=shift_labels,
                                 num_items_in_batch=num_items_in_batch, **kwargs)
        ids, mask, positions = kwargs.get("input_ids"), kwargs.get("attention_mask"), kwargs.get("position_ids")
        skip = 0
        other = [k for k, v in kwargs.items() if k not in _PLAIN and v is not None and v is not False]  # inputs_embeds
        if share_prefix and not args and ids is not None and mask is not None and not other:
            if not bool(mask[:, 0].all()) and bool((labels != -100).any()):  # left-padded prompts
                prompt = int((labels != -100).any(0).nonzero()[0])  # the first trained column
                ids, mask, moved = prefix_first(ids, mask, prompt)
                positions = (mask.cumsum(1) - 1).clamp(min=0) if moved else positions
            skip = trainable_prefix_length(ids, mask, labels)
        if skip:
            hidden = prefixed_forward(self.base_model, ids, skip, positions,
                                      attention_mask=mask).last_hidden_state[:, :-1]
        else:
            kwargs["use_cache"] = False
            hidden = self.base_model(*args, **kwargs).last_hidden_state[:, :-1]
        targets = labels[:, 1:].to(hidden.device)
        mask = targets != -100  # nothing is trained in the shared prefix, so its hidden states are not needed
        logits = self.get_output_embeddings()(hidden[mask[:, skip:]]).float() / temperature
        log_probs = logits.log_softmax(-1)
        picked = log_probs.gather(1, targets[mask][:, None]).squeeze(1)

        def laid(values: Any) -> Any:  # per trained position -> per position, 0 elsewhere (connected if none)
            return values.new_zeros(mask.shape).masked_scatter(mask, values)

        with_grad = laid(picked)
        if example_weight is not None:  # class weights: each example's answer tokens count w times
            with_grad = with_grad * example_weight.to(with_grad)[:, None]
        entropy = -(log_probs.exp() * log_probs).sum(-1)  # differentiable, as TRL's (GRPO's entropy bonus)
        top1 = log_probs.detach().argmax(-1) == targets[mask]
        mean = logits.detach().mean(-1)
        count = mask.sum().clamp(min=1) if num_items_in_batch is None else num_items_in_batch
        return FusedCausalLMOutput(loss=-with_grad.sum() / count, log_probs=with_grad, entropy=laid(entropy),
                                   mean_logits=laid(mean), is_top1=laid(top1), label_mask=mask)

    model.forward = types.MethodType(forward, model)


def install_answer_head(trainer_model: Any, trainer: str, opts: AnswerHeadOptions,
                        temperature: float = 1.0) -> tuple[bool, bool]:
    """The answer-only head (see ``answer_only_head``) installed on the model of trainer ``trainer``'s SFTTrainer,
    GRPOTrainer or DPOTrainer (a PEFT model or a plain one) as stage options ``opts`` ask (``answer_only_head``,
    ``shared_prefix``: null, on wherever it runs); a warning and TRL's head for a model whose logits are scaled or
    capped. Returns whether it was installed and whether it shares the prompts' prefix."""
    from gencls_core.errors import ConfigError

    if opts.shared_prefix and not opts.answer_only_head:
        raise ConfigError(f"trainer {trainer!r}: shared_prefix runs in the answer-only head; set answer_only_head: "
                          f"true")
    if not opts.answer_only_head:
        return False, False
    share = prefix_shared(trainer, opts)
    causal = trainer_model.get_base_model() if hasattr(trainer_model, "get_base_model") else trainer_model
    if not supports_answer_only_head(causal):
        warnings.warn(f"{type(causal).__name__} scales or caps its logits; {trainer} uses TRL's LM head, which "
                      f"scores every position on this device (no answer-only head, no shared prefix)",
                      GenclsWarning, stacklevel=2)
        return False, False
    answer_only_head(causal, share, temperature)
    return True, share
