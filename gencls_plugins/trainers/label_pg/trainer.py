"""Label-space policy optimisation (``label-pg``): the exact gradient of the expected reward over the K label
answers, on transformers' ``Trainer`` (checkpoints, resume, callbacks, ``report_to``, accelerate)."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from gencls_core.answers import answer_token_ids
from gencls_core.chat import render_prompt
from gencls_core.errors import ConfigError, GenclsWarning
from gencls_plugins.trainers.conversations import prompts_with_labels, take_owners
from gencls_plugins.trainers.label_pg.config import LabelPGConfig
from gencls_plugins.trainers.options import prefix_shared, training_args
from gencls_plugins.trainers.stage import (
    RewardStage,
    answer_rewards,
    choose_on_validation,
    policy_model,
    require_rewards,
    run_stage,
    stage_callbacks,
    validation_split,
)

if TYPE_CHECKING:
    from gencls_core.interfaces import RunContext, StageResult


class LabelPG(RewardStage):
    """Policy gradient over the label answers, without sampling: every answer is scored in one packed pass, so
    each example gives a gradient (no zero-variance groups) at about the cost of an SFT step. On multi-label
    data the rewards see each text's gold label set (``label-match``: each one-label answer's F1 against it),
    so the renormalized policy learns to spread over the gold labels that the decoder's threshold then keeps."""

    name = "label-pg"
    multi_process = True
    stage_metrics = ("steps", "loss", "reward")
    Config = LabelPGConfig

    def train_with_rewards(self, ctx: RunContext) -> StageResult:
        from peft import get_peft_model
        from transformers import TrainingArguments

        from gencls_plugins.trainers.label_pg.hf_trainer import LabelPGTrainer

        cfg = self.config
        require_rewards(ctx, self.name)
        if ctx.train_prompt.answer_form != "direct":
            raise ConfigError(f"trainer 'label-pg' scores whole label answers, so it needs a prompt that asks for the "
                              f"answer directly; prompt strategy {ctx.train_prompt.name!r} asks for "
                              f"{ctx.train_prompt.answer_form!r} answers")
        tok = ctx.lm.tokenizer
        labels = ctx.train_labels
        answers = answer_token_ids(tok, labels, end_of_answer=True)
        if ctx.loaded_data().multi_label and cfg.distribution == "raw":
            raise ConfigError("trainer 'label-pg': distribution 'raw' gives the mass outside the one-label answers "
                              "the reward of an empty answer, but on multi-label data that mass holds the answers "
                              "naming several labels; use distribution 'renormalized'")
        if ctx.loaded_data().multi_label and not cfg.entropy_coef:
            warnings.warn("trainer 'label-pg' on label sets without entropy_coef: every gold label of a text earns "
                          "the same reward, so the policy can collapse onto one of them and the threshold then "
                          "drops the others; entropy_coef 0.2 kept the mass on every gold label in "
                          "tests/test_multilabel.py", GenclsWarning, stacklevel=2)
        data, cut = prompts_with_labels(ctx, "train", self.name, sets=True, draws=True)
        data, owners = take_owners(data)
        rows = _rows(ctx, data, labels)
        model, peft_config = policy_model(ctx, cfg)
        if peft_config is not None:
            model = get_peft_model(model, peft_config)
        share = prefix_shared(self.name, cfg)
        if cfg.beta:
            rows = rows.add_column("ref_logp", _reference(model, rows, answers, tok.pad_token_id, cfg.batch_size,
                                                          share))
        args = training_args(TrainingArguments, cfg, ctx, remove_unused_columns=False)
        trainer = LabelPGTrainer(model=model, args=args, train_dataset=rows, eval_dataset=validation_split(ctx, cfg),
                                 data_collator=Collator(answers, tok, share), callbacks=stage_callbacks(ctx, cfg),
                                 answers=answers, options=cfg)
        trainer.window_owners = owners
        result = run_stage(choose_on_validation(trainer, ctx, cfg), ctx, cut)
        summary = result.summary
        summary["train_examples"] = len(rows)
        summary["shared_prefix"] = share
        return result


def _rows(ctx: RunContext, data: Any, labels: Any) -> Any:
    """Per training example: its rendered prompt's tokens, the weighted reward of each label answer and of an
    answer naming no label (rewards are rule-based, so they are computed once)."""
    import datasets

    tok = ctx.lm.tokenizer
    texts = [labels.verbalize(c) for c in labels.labels]
    prompt_ids, rewards, invalid = [], [], []
    for messages, gold in zip(data["prompt"], data["label"]):
        prompt_ids.append(tok(render_prompt(tok, messages), add_special_tokens=False)["input_ids"])
        scored = answer_rewards(ctx, messages, [*texts, ""], gold, "trainer 'label-pg'",
                                "label-pg needs a reward for each label answer (and for an empty one)")
        rewards.append(scored[:-1])
        invalid.append(scored[-1])
    return datasets.Dataset.from_dict({"prompt_ids": prompt_ids, "rewards": rewards, "invalid": invalid})


def _reference(model: Any, rows: Any, answers: list[list[int]], pad_id: int, batch_size: int,
               share: bool = False) -> list[list[float]]:
    """log pi_start(answer_k | x) for every training example, before any update."""
    import torch

    from gencls_plugins.trainers.label_pg.packed import answer_logprobs, collate

    out: list[list[float]] = []
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for start in range(0, len(rows), batch_size):
            batch = collate(rows[start:start + batch_size]["prompt_ids"], answers, pad_id, share)
            batch = {k: v.to(model.device) for k, v in batch.items()}
            out += answer_logprobs(model, batch, answers).tolist()
    model.train(was_training)
    return out


class Collator:
    """Packs a batch of prompts with every label answer (see ``packed.collate``)."""

    def __init__(self, answers: list[list[int]], tokenizer: Any, share: bool = False) -> None:
        self.answers, self.pad_id, self.share = answers, tokenizer.pad_token_id, share

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        from gencls_plugins.trainers.label_pg.packed import collate

        batch = collate([f["prompt_ids"] for f in features], self.answers, self.pad_id, self.share)
        batch["rewards"] = torch.tensor([f["rewards"] for f in features], dtype=torch.float32)
        batch["invalid"] = torch.tensor([f["invalid"] for f in features], dtype=torch.float32)
        if "ref_logp" in features[0]:
            batch["ref_logp"] = torch.tensor([f["ref_logp"] for f in features], dtype=torch.float32)
        return batch
