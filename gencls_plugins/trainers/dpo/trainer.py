"""Preference training on labels (``dpo``): for a classifier the pairs come for free, the gold answer preferred
over a wrong one. TRL's DPOTrainer with its loss types: DPO (sigmoid), rDPO (robust, for flipped pairs), SLiC /
RSO (hinge), IPO, and DPO + SFT (RPO) through TRL's loss mixing. The reference is the stage's starting policy
(TRL copies a trained adapter as the reference, or disables a new one)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gencls_core.errors import ConfigError
from gencls_core.interfaces import Trainer
from gencls_plugins.trainers.answer_head import answer_only_head, install_answer_head
from gencls_plugins.trainers.conversations import prompts_with_labels
from gencls_plugins.trainers.difficulty import label_probabilities
from gencls_plugins.trainers.dpo.config import DPOOptions
from gencls_plugins.trainers.options import training_args
from gencls_plugins.trainers.stage import (
    answer_rewards,
    choose_on_validation,
    class_weight_of,
    policy_model,
    run_stage,
    stage_callbacks,
    validation_split,
    weights_summary,
)

if TYPE_CHECKING:
    from gencls_core.interfaces import RunContext, StageResult


class DPO(Trainer):
    """Direct preference optimisation on (gold answer, wrong answer) pairs of the training split."""

    name = "dpo"
    multi_process = True
    stage_metrics = ("steps", "loss")
    Config = DPOOptions

    def train(self, ctx: RunContext) -> StageResult:
        from trl import DPOConfig

        from gencls_plugins.trainers.dpo.hf_trainer import DPOStage

        cfg = self.config
        if ctx.train_prompt.answer_form != "direct":
            raise ConfigError(f"trainer 'dpo' prefers one whole label answer over another, so it needs a prompt "
                              f"that asks for the answer directly; prompt strategy {ctx.train_prompt.name!r} asks "
                              f"for {ctx.train_prompt.answer_form!r} answers")
        data, cut = prompts_with_labels(ctx, "train", self.name)
        probs = None  # the starting policy's label probabilities on the training texts, where needed
        if cfg.pairs != "all" or cfg.flip_rate == "estimate":
            probs = label_probabilities(ctx, list(data["prompt"]), "dpo.pairs")
        flip_rate = cfg.flip_rate if cfg.flip_rate != "estimate" else estimate_flip_rate(ctx, data, probs)
        pairs = preference_pairs(ctx, data, cfg.pairs, candidates=cfg.rso_candidates, samples=cfg.rso_samples,
                                 beta=cfg.rso_beta, probs=probs)
        weights = class_weight_of(ctx, cfg, self.name)
        if weights is not None:
            pairs = weighted_pairs(pairs, weights, ctx.seed)
        pairs = pairs.remove_columns("gold")  # TRL takes prompt, chosen and rejected
        if len(pairs) == 0:
            raise ConfigError(f"trainer 'dpo' found no preference pair: RSO's rejection sampler accepted no wrong "
                              f"label among {cfg.rso_candidates} sampled answers of any training example (the "
                              f"starting policy is sure of the gold labels); raise rso_candidates or rso_beta, or "
                              f"use pairs: hardest")
        mixed = {"loss_type": [cfg.loss, "sft"], "loss_weights": [1.0, cfg.sft_weight]} if cfg.sft_weight else {
            "loss_type": [cfg.loss]}
        evaluation = {"eval_strategy": "steps", "eval_steps": cfg.eval_steps or cfg.save_steps} \
            if cfg.best_metric else {"eval_strategy": "no"}
        args = training_args(DPOConfig, cfg, ctx, beta=cfg.beta, label_smoothing=flip_rate,
                             max_length=cfg.max_length, **mixed, **evaluation)
        model, peft_config = policy_model(ctx, cfg)
        trainer = DPOStage(model=model, args=args, train_dataset=pairs, eval_dataset=validation_split(ctx, cfg),
                           processing_class=ctx.lm.tokenizer, peft_config=peft_config,
                           callbacks=stage_callbacks(ctx, cfg))
        installed, share = install_answer_head(trainer.model, self.name, cfg)
        if installed and trainer.ref_model is not None:  # full fine-tuning: a frozen copy is the reference
            answer_only_head(trainer.accelerator.unwrap_model(trainer.ref_model), share)
        result = run_stage(choose_on_validation(trainer, ctx, cfg), ctx, cut)
        summary = result.summary
        summary.update(train_pairs=len(pairs), shared_prefix=share)
        summary.update(weights_summary(weights))
        if cfg.flip_rate == "estimate":
            summary["flip_rate_estimated"] = round(flip_rate, 4)
        return result

    def needs_validation(self) -> bool:
        return super().needs_validation() or self.config.flip_rate == "estimate"


def estimate_flip_rate(ctx: RunContext, data: Any, probs: list[dict[str, float]]) -> float:
    """The share of flipped training labels, estimated from the starting policy: its disagreement ``d`` with the
    training labels beyond its error ``e`` on the clean validation split. Under labels flipped at rate r uniformly
    to the other k - 1 classes, d = e + r (1 - e k / (k - 1)); solved for r, within [0, 0.45]. A policy that
    fitted the noisy labels disagrees with them less than with fresh ones, so the estimate errs low. ``probs``:
    the policy's label probabilities for ``data``'s prompts."""
    if "validation" not in ctx.data.splits or len(ctx.data.splits["validation"]) == 0:
        raise ConfigError("trainer 'dpo': flip_rate estimate reads the validation split, and this run has none; "
                          "set splits.validation_size")
    held = prompts_with_labels(ctx, "validation", "dpo").data
    k = len(ctx.train_labels.labels)

    def error(found: list[dict[str, float]], gold: list[str]) -> float:
        return sum(max(p, key=p.get) != g for p, g in zip(found, gold)) / len(found)

    held_probs = label_probabilities(ctx, list(held["prompt"]), "dpo.flip_rate")
    return flip_rate_from(error(probs, list(data["label"])), error(held_probs, list(held["label"])), k)


def flip_rate_from(disagreement: float, error: float, classes: int) -> float:
    """r solving ``disagreement = error + r (1 - error k / (k - 1))``, within [0, 0.45]."""
    slope = 1 - error * classes / (classes - 1)
    if slope <= 0:  # a policy no better than chance on validation says nothing about the training labels
        return 0.0
    return min(max((disagreement - error) / slope, 0.0), 0.45)


def preference_pairs(ctx: RunContext, data: Any, mode: str, candidates: int = 8, samples: int = 2,
                     beta: float = 0.5, probs: list[dict[str, float]] | None = None) -> Any:
    """``prompt`` / ``chosen`` / ``rejected`` rows (conversational prompt-completion; ``gold``: the chosen class):
    the gold answer over the wrong label the starting policy finds most probable (``hardest``), over every wrong
    label (``all``), or over the wrong labels among the ``samples`` answers ``rejection_sample`` accepts of
    ``candidates`` sampled from the starting policy (``rso``; none when every sampled answer was the gold label).
    ``probs``: the policy's label probabilities for ``data``'s prompts, computed here when not given."""
    import datasets
    import numpy as np

    labels = ctx.train_labels
    wrong = {gold: [c for c in labels.labels if c != gold] for gold in labels.labels}
    if mode == "all":
        rejected = [wrong[gold] for gold in data["label"]]
    else:
        if probs is None:
            probs = label_probabilities(ctx, list(data["prompt"]), "dpo.pairs")
        if mode == "hardest":
            rejected = [[max(wrong[gold], key=p.get)] for p, gold in zip(probs, data["label"])]
        else:
            rng = np.random.default_rng(ctx.seed)
            rejected = []
            for p, messages, gold in zip(probs, data["prompt"], data["label"]):
                classes = list(p)
                weights = np.array([p[c] for c in classes]) / sum(p.values())
                sampled = list(dict.fromkeys(classes[i] for i in rng.choice(len(classes), candidates, p=weights)))
                texts = [labels.verbalize(c) for c in sampled]
                scored = answer_rewards(ctx, messages, texts, gold, "trainer 'dpo' (pairs: rso)",
                                        "RSO needs a reward for each label answer")
                accepted = rejection_sample(dict(zip(sampled, scored)), beta, samples, rng)
                rejected.append([c for c in accepted if c != gold])
    rows: dict[str, list[Any]] = {"prompt": [], "chosen": [], "rejected": [], "gold": []}
    for messages, gold, worse in zip(data["prompt"], data["label"], rejected):
        for other in worse:
            rows["gold"].append(gold)
            rows["prompt"].append(messages)
            rows["chosen"].append([{"role": "assistant", "content": labels.verbalize(gold)}])
            rows["rejected"].append([{"role": "assistant", "content": labels.verbalize(other)}])
    return datasets.Dataset.from_dict(rows)


def weighted_pairs(pairs: Any, weights: dict[str, float], seed: int) -> Any:
    """``pairs`` (with their ``gold`` class) resampled so that each gold class counts as its weight says: TRL's DPO
    loss takes no per-pair weight, so a pair of weight w (scaled so the weights average 1 over the pairs) appears
    floor(w) times and once more with probability w - floor(w) (seeded): in expectation, the weighted loss."""
    import numpy as np

    golds = list(pairs["gold"])
    raw = np.array([weights.get(g, 1.0) for g in golds])
    scaled = raw * len(raw) / raw.sum()
    copies = np.floor(scaled).astype(int) + (np.random.default_rng(seed).random(len(raw)) < scaled % 1)
    return pairs.select([i for i, n in enumerate(copies) for _ in range(n)])


def rejection_sample(rewards: dict[str, float], beta: float, num_samples: int, rng: Any) -> list[str]:
    """RSO's statistical rejection sampling (Liu et al. 2023, Algorithm 1): candidates sampled from the starting
    policy, each accepted with probability ``exp((r - r_max) / beta)`` (``r_max``: the highest reward among those
    not yet accepted), in passes until ``num_samples`` are accepted; what is accepted follows the optimal policy
    ``pi(y) ~ pi_start(y) exp(r(y) / beta)``. ``rng``: a numpy Generator."""
    import math

    remaining = dict(rewards)
    accepted: list[str] = []
    num_samples = min(num_samples, len(remaining))
    while len(accepted) < num_samples:
        best = max(remaining.values())
        for candidate, reward in list(remaining.items()):
            if rng.uniform() < math.exp((reward - best) / beta):
                accepted.append(candidate)
                del remaining[candidate]
                if len(accepted) == num_samples:
                    break
    return accepted

