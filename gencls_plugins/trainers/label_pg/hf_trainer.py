"""transformers' Trainer as the ``label-pg`` stage runs it (imported when the stage trains: registering the
plugin imports no torch)."""

from __future__ import annotations

from typing import Any

from transformers import Trainer as HFTrainer

from gencls_plugins.trainers.label_pg import objective
from gencls_plugins.trainers.label_pg.config import LabelPGConfig
from gencls_plugins.trainers.label_pg.packed import answer_logprobs
from gencls_plugins.trainers.stage import DecodedValidation, StepStats
from gencls_plugins.trainers.windows import WindowEpochs


class LabelPGTrainer(WindowEpochs, DecodedValidation, StepStats, HFTrainer):
    """transformers' Trainer with the label-space objective as its loss; logs the mean expected reward, KL,
    entropy and how often the best-rewarded answer is the most likely one."""

    def __init__(self, *args: Any, answers: list[list[int]], options: LabelPGConfig, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.answers, self.options = answers, options

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        logp = answer_logprobs(model, inputs, self.answers)
        rewards = inputs["rewards"].to(logp.device)
        loss, stats = objective.loss(logp, rewards, inputs["invalid"].to(logp.device), inputs.get("ref_logp"),
                                     self.options.distribution, self.options.beta, self.options.entropy_coef)
        stats["best_answer_top1"] = (logp.argmax(-1) == rewards.argmax(-1)).float().mean().item()
        self.record(stats)
        return (loss, {"logp": logp}) if return_outputs else loss
