"""TRL's DPOTrainer as the ``dpo`` stage runs it (imported when the stage trains: registering the plugin imports
no torch)."""

from __future__ import annotations

from trl import DPOTrainer

from gencls_plugins.trainers.stage import DecodedValidation


class DPOStage(DecodedValidation, DPOTrainer):
    """TRL's DPOTrainer that evaluates through the run's decoder when choosing on validation."""
