"""Built-in training stages: supervised fine-tuning, GRPO and DPO (on TRL), label-space policy optimisation,
PPO with a learned critic, and Guess-Think-Answer."""

from gencls_core.hookspecs import hookimpl
from gencls_plugins.trainers.dpo import DPO
from gencls_plugins.trainers.grpo import GRPO
from gencls_plugins.trainers.gta import GTA
from gencls_plugins.trainers.label_pg import LabelPG
from gencls_plugins.trainers.ppo import PPO
from gencls_plugins.trainers.sft import SFT


@hookimpl
def gencls_register_trainers(register):
    register(SFT)
    register(GRPO)
    register(LabelPG)
    register(PPO)
    register(GTA)
    register(DPO)


@hookimpl
def gencls_default_training():
    return {"trainers": [{"name": "sft"}]}  # LoRA SFT, one epoch: the estimator's fit
