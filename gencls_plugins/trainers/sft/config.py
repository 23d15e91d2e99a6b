"""Options of the SFT stage."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from gencls_plugins.trainers.options import StageOptions, option
from gencls_plugins.trainers.rationales import RationaleOptions


class SFTOptions(StageOptions):
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
    answer_only_head: bool = Field(
        True, description="project only the answer positions through the LM head: the same loss, metrics and "
                          "gradients as TRL's fused head, which scores every position off Triton devices (CPU). "
                          "Models that scale or cap their logits keep TRL's head (with a warning)")
    shared_prefix: bool | None = Field(
        None, description="encode the tokens every example of a batch starts with (chat template, instructions, "
                          "label list) once per batch, with gradients, and run only each example's own tokens on "
                          "top: the same loss and gradients (LoRA dropout draws one mask for the prefix). null: on "
                          "wherever it runs (with answer_only_head, not under gradient_checkpointing); true: on "
                          "(an error without answer_only_head, a warning under gradient_checkpointing); false: "
                          "off")
    group_by_length: bool = Field(
        True, description="batch examples of similar length together (transformers' LengthGroupedSampler: "
                          "shuffled groups of 50 batches, each sorted by length): less padding, a different "
                          "batch order than false")
