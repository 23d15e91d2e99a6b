"""Options of the preference stage (DPO and its robust, hinge and SFT-mixed variants)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator

from gencls_plugins.trainers.options import AnswerHeadOptions


class DPOOptions(AnswerHeadOptions):
    args_class: ClassVar[str] = "trl.DPOConfig"
    own_args: ClassVar[dict[str, str]] = {"beta": "beta", "loss_type": "loss and sft_weight",
                                          "loss_weights": "sft_weight", "label_smoothing": "flip_rate",
                                          "max_length": "max_length"}
    learning_rate: float = Field(5e-5, gt=0, description="peak learning rate (AdamW)")
    pairs: Literal["hardest", "all", "rso"] = Field(
        "hardest", description="the rejected answers of each training example: hardest, the wrong label the "
                               "stage's starting policy finds most probable (perplexity decoding, uncalibrated); "
                               "all, every wrong label (classes - 1 pairs); rso, the wrong labels among the "
                               "rso_samples answers RSO's statistical rejection sampling accepts of rso_candidates "
                               "sampled from the starting policy (Liu et al.), scored by the run's rewards "
                               "(label-match by default)")
    rso_candidates: int = Field(8, ge=2, description="rso: answers sampled from the starting policy per example")
    rso_samples: int = Field(2, ge=2, description="rso: answers the rejection sampler accepts per example (each "
                                                  "accepted wrong label is one pair)")
    rso_beta: float = Field(0.5, gt=0, description="rso: the rejection sampler's temperature: an answer is accepted "
                                                   "with probability exp((reward - best reward) / rso_beta)")
    loss: Literal["sigmoid", "robust", "hinge", "ipo"] = Field(
        "sigmoid", description="sigmoid: DPO (Rafailov et al.); robust: rDPO, unbiased under pairs flipped at "
                               "flip_rate (Chowdhury et al.); hinge: SLiC, RSO's loss (Liu et al.); ipo: IPO")
    flip_rate: float | Literal["estimate"] = Field(
        0.0, description="robust: the assumed share of flipped preference pairs (TRL's label_smoothing), below 0.5; "
                         "estimate: from how often the starting policy disagrees with the training labels beyond "
                         "its error on the (clean) validation split")

    @field_validator("flip_rate")
    @classmethod
    def _below_half(cls, value: float | str) -> float | str:
        if isinstance(value, float) and not 0 <= value < 0.5:
            raise ValueError(f"flip_rate must be in [0, 0.5) or 'estimate', got {value}")
        return value
    sft_weight: float = Field(0.0, ge=0, description="weight of the SFT loss on the preferred answer beside the "
                                                     "preference loss, RPO (TRL's loss mixing); 0: none")
    beta: float = Field(0.1, gt=0, description="strength of the implicit KL to the starting policy")
    max_length: int | None = Field(1024, ge=16, description="longest prompt + answer in tokens")
