"""``long_text.train_windows: epoch``: a text read in several windows contributes one of them to each training
epoch, drawn afresh every epoch (seeded by the run's seed and the epoch), through the Trainer's sampler; the
training rows hold every window, with ``window_of``, the text each is a window of."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch


class WindowPerEpoch(torch.utils.data.Sampler):
    """Each epoch (``set_epoch``, which the Trainer calls), one row of each text (``owners[row]``: the text that
    row is a window of), drawn with a generator seeded by ``seed`` and the epoch; in random order or, with
    ``lengths``, grouped by length in batches of ``batch_size`` as transformers' LengthGroupedSampler groups them."""

    def __init__(self, owners: list[int], seed: int, lengths: list[int] | None = None, batch_size: int = 1) -> None:
        self.rows: dict[int, list[int]] = {}
        for row, owner in enumerate(owners):
            self.rows.setdefault(owner, []).append(row)
        self.seed, self.lengths, self.batch_size, self.epoch = seed, lengths, batch_size, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[int]:
        draw = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        chosen = [rows[int(torch.randint(len(rows), (1,), generator=draw))] for rows in self.rows.values()]
        if self.lengths is None:
            order = torch.randperm(len(chosen), generator=draw).tolist()
        else:
            from transformers.trainer_pt_utils import get_length_grouped_indices

            order = get_length_grouped_indices([self.lengths[i] for i in chosen], self.batch_size, generator=draw)
        return iter([chosen[i] for i in order])


class WindowEpochs:
    """A Trainer mixin: with ``window_owners`` set (``WindowPerEpoch``'s owners), the training sampler draws one
    window of each text per epoch (grouped by length when the run groups by length)."""

    window_owners: list[int] | None = None

    def _get_train_sampler(self, train_dataset: Any = None) -> Any:
        if self.window_owners is None:
            return super()._get_train_sampler(train_dataset)  # type: ignore[misc]
        data = self.train_dataset if train_dataset is None else train_dataset  # type: ignore[attr-defined]
        args = self.args  # type: ignore[attr-defined]
        grouped = args.train_sampling_strategy == "group_by_length" and "input_ids" in data.column_names
        return WindowPerEpoch(self.window_owners, args.seed, [len(ids) for ids in data["input_ids"]] if grouped
                              else None, args.train_batch_size * args.gradient_accumulation_steps)

