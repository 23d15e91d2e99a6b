"""Preference training on labels (``dpo``): for a classifier the pairs come for free, the gold answer preferred
over a wrong one. TRL's DPOTrainer with its loss types: DPO (sigmoid), rDPO (robust, for flipped pairs), SLiC /
RSO (hinge), IPO, and DPO + SFT (RPO) through TRL's loss mixing. The reference is the stage's starting policy
(TRL copies a trained adapter as the reference, or disables a new one)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gencls_core.errors import ConfigError
from gencls_core.interfaces import Trainer
from gencls_plugins.trainers.conversations import prompts_with_labels
from gencls_plugins.trainers.difficulty import label_probabilities
from gencls_plugins.trainers.dpo.config import DPOOptions
from gencls_plugins.trainers.options import training_args
from gencls_plugins.trainers.stage import (
    choose_on_validation,
    policy_model,
    run_stage,
    stage_callbacks,
    validation_split,
)

if TYPE_CHECKING:
    from gencls_core.interfaces import RunContext


class DPO(Trainer):
    """Direct preference optimisation on (gold answer, wrong answer) pairs of the training split."""

    name = "dpo"
    multi_process = True
    stage_metrics = ("steps", "loss")
    Config = DPOOptions

    def train(self, ctx: RunContext) -> dict[str, Any]:
        from trl import DPOConfig

        from gencls_plugins.trainers.dpo.hf_trainer import DPOStage

        cfg = self.config
        if ctx.train_prompt.answer_form != "direct":
            raise ConfigError(f"trainer 'dpo' prefers one whole label answer over another, so it needs a prompt "
                              f"that asks for the answer directly; prompt strategy {ctx.train_prompt.name!r} asks "
                              f"for {ctx.train_prompt.answer_form!r} answers")
        if cfg.class_weights is not None:
            raise ConfigError("trainer 'dpo' does not weigh classes (TRL's DPO loss has no per-pair weight); drop "
                              "class_weights, or use sft or label-pg for imbalanced data")
        data = prompts_with_labels(ctx, "train", self.name)
        pairs = preference_pairs(ctx, data, cfg.pairs)
        mixed = {"loss_type": [cfg.loss, "sft"], "loss_weights": [1.0, cfg.sft_weight]} if cfg.sft_weight else {
            "loss_type": [cfg.loss]}
        evaluation = {"eval_strategy": "steps", "eval_steps": cfg.eval_steps or cfg.save_steps} \
            if cfg.best_metric else {"eval_strategy": "no"}
        args = training_args(DPOConfig, cfg, ctx, beta=cfg.beta, label_smoothing=cfg.flip_rate,
                             max_length=cfg.max_length, **mixed, **evaluation)
        model, peft_config = policy_model(ctx, cfg)
        trainer = DPOStage(model=model, args=args, train_dataset=pairs, eval_dataset=validation_split(ctx, cfg),
                           processing_class=ctx.lm.tokenizer, peft_config=peft_config,
                           callbacks=stage_callbacks(ctx, cfg))
        summary = run_stage(choose_on_validation(trainer, ctx, cfg), ctx)
        summary["train_pairs"] = len(pairs)
        return summary


def preference_pairs(ctx: RunContext, data: Any, mode: str) -> Any:
    """``prompt`` / ``chosen`` / ``rejected`` rows (conversational prompt-completion): the gold answer over the
    wrong label the starting policy finds most probable (``hardest``), or over every wrong label (``all``)."""
    import datasets

    labels = ctx.train_labels
    wrong = {gold: [c for c in labels.labels if c != gold] for gold in labels.labels}
    if mode == "hardest":
        probs = label_probabilities(ctx, list(data["prompt"]), "dpo.pairs")
        rejected = [[max(wrong[gold], key=p.get)] for p, gold in zip(probs, data["label"])]
    else:
        rejected = [wrong[gold] for gold in data["label"]]
    rows: dict[str, list[Any]] = {"prompt": [], "chosen": [], "rejected": []}
    for messages, gold, worse in zip(data["prompt"], data["label"], rejected):
        for other in worse:
            rows["prompt"].append(messages)
            rows["chosen"].append([{"role": "assistant", "content": labels.verbalize(gold)}])
            rows["rejected"].append([{"role": "assistant", "content": labels.verbalize(other)}])
    return datasets.Dataset.from_dict(rows)

