"""Group-relative policy optimisation on TRL's GRPOTrainer."""

from gencls_plugins.trainers.grpo.trainer import GRPO, grpo_args

__all__ = ["GRPO", "grpo_args"]
