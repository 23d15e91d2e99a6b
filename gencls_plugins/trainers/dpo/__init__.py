"""Preference training on labels: the gold answer preferred over wrong ones, with TRL's DPOTrainer."""

from gencls_plugins.trainers.dpo.trainer import DPO

__all__ = ["DPO"]
