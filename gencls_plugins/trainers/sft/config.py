"""Options of the SFT stage."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from gencls_plugins.trainers.options import AnswerHeadOptions, option
from gencls_plugins.trainers.rationales import RationaleOptions


class SFTOptions(AnswerHeadOptions):
    args_class: ClassVar[str] = "trl.SFTConfig"
    own_args: ClassVar[dict[str, str]] = {
        "max_length": option("max_length"), "packing": "sft (off)", "dataset_num_proc": "sft (one process)",
        "per_device_eval_batch_size": option("batch_size"), "train_sampling_strategy": option("group_by_length")}
    max_length: int | None = Field(1024, description="longest prompt + answer in tokens; prompts are fitted to "
                                                     "leave room for the answer (truncation.reserve_tokens); "
                                                     "null: no limit")
    rationales: RationaleOptions = Field(default_factory=RationaleOptions,
                                         description="the reasoning of gold answers when the prompt asks "
                                                     "to think first (reasoning think or gta)")
    merge: bool = Field(False, description="also save the base model with the adapter merged in "
                                           "(<stage>/merged)")
    group_by_length: bool = Field(
        True, description="batch examples of similar length together (transformers' LengthGroupedSampler: "
                          "shuffled groups of 50 batches, each sorted by length): less padding, a different "
                          "batch order than false")
