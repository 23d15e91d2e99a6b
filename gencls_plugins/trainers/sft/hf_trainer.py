"""TRL's SFTTrainer as the ``sft`` stage runs it (imported when the stage trains: registering the plugin imports
no torch)."""

from __future__ import annotations

from typing import Any

import torch
from trl import SFTTrainer

from gencls_plugins.trainers.stage import DecodedValidation
from gencls_plugins.trainers.windows import WindowEpochs


class SFTStage(WindowEpochs, DecodedValidation, SFTTrainer):
    """TRL's SFTTrainer that evaluates through the run's decoder when choosing on validation and carries each
    example's ``example_weight`` (class weights) from the dataset to the answer-only head."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "example_weight" in self.train_dataset.column_names:
            collate = self.data_collator
            self.data_collator = lambda rows: {
                **collate([{k: v for k, v in r.items() if k != "example_weight"} for r in rows]),
                "example_weight": torch.tensor([r["example_weight"] for r in rows], dtype=torch.float32)}

    def _set_signature_columns_if_needed(self) -> None:
        super()._set_signature_columns_if_needed()
        self._signature_columns = [*self._signature_columns, "example_weight"]
