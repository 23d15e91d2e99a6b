"""PPO with a learned critic and rule-based rewards (arXiv 2410.11020) on transformers' Trainer."""

from gencls_plugins.trainers.ppo.trainer import PPO

__all__ = ["PPO"]
