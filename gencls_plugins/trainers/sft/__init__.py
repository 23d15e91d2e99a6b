"""Supervised fine-tuning on TRL's SFTTrainer, with the answer-only LM head."""

from gencls_plugins.trainers.sft.trainer import SFT

__all__ = ["SFT"]
