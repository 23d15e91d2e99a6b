"""Options of the label-space policy-optimisation stage."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from gencls_plugins.trainers.options import LoraOptions, StageOptions


class LabelPGConfig(StageOptions):
    own_args: ClassVar[dict[str, str]] = {"remove_unused_columns": "label-pg (off: it needs its columns)"}
    lora: LoraOptions | None = Field(default_factory=lambda: LoraOptions(dropout=0.0),
                                     description="LoRA adapter (no dropout by default, so the policy is the one "
                                                 "the KL and the decoder see); null = full fine-tuning")
    learning_rate: float = Field(2e-4, gt=0, description="peak learning rate (AdamW); 2e-4 had the better "
                                                         "validation accuracy of 5e-5 and 2e-4 after a one-epoch SFT "
                                                         "on two of three corpora (docs/benchmarks.md)")
    distribution: Literal["renormalized", "raw"] = Field(
        "renormalized", description="policy over the label answers: renormalized over them (what perplexity "
                                    "decoding decides with), or raw, the rest of the mass earning the reward of an "
                                    "answer naming no label")
    beta: float = Field(0.0, ge=0, description="coefficient of the exact KL to the stage's starting policy over the "
                                               "same answers (0: no reference pass)")
    entropy_coef: float = Field(0.0, ge=0, description="coefficient of an entropy bonus")
    shared_prefix: bool | None = Field(
        None, description="encode the prompt tokens every example of a batch starts with (chat template, "
                          "instructions, label list) once per batch, with gradients: the same log-probabilities "
                          "and gradients. null: on wherever it runs (not under gradient_checkpointing); true: on, "
                          "with a warning where it cannot run; false: off")
