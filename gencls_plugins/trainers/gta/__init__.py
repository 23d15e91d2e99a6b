"""Guess-Think-Answer (arXiv 2509.12108) on TRL's GRPOTrainer."""

from gencls_plugins.trainers.gta.trainer import GTA

__all__ = ["GTA"]
