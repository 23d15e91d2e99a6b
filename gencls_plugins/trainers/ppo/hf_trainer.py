"""The ``ppo`` stage's modules on transformers' Trainer (imported when the stage trains: registering the plugin
imports no torch)."""

from __future__ import annotations

from typing import Any

import torch
from transformers import Trainer as HFTrainer

from gencls_core.interfaces import LoadedModel, RunContext
from gencls_plugins.trainers.ppo.config import PPOConfig
from gencls_plugins.trainers.stage import StepStats


class PolicyAndValue(torch.nn.Module):
    """One module holding the policy and its value head, so the Trainer optimises, wraps and saves both
    (TRL's PolicyAndValueWrapper): called on a sequence it returns the logits and a value per position."""

    def __init__(self, policy: Any, value_head: Any) -> None:
        super().__init__()
        self.policy, self.value_head, self.config = policy, value_head, policy.config

    def forward(self, input_ids, attention_mask, position_ids, prefix=0):
        """Logits and values of the columns after the ``prefix`` every row starts with (encoded once)."""
        from gencls_plugins.trainers.ppo.rollouts import causal_forward

        out = causal_forward(self.policy, {"input_ids": input_ids, "attention_mask": attention_mask,
                                           "position_ids": position_ids, "prefix": prefix},
                             output_hidden_states=True)
        return out.logits, self.value_head(out.hidden_states[-1].float()).squeeze(-1)

    # activation checkpointing is the policy's (the Trainer turns it on, TRL's generation context off and on,
    # reading it under the name transformers deprecates)
    @property
    def is_gradient_checkpointing(self) -> bool:
        return self.policy.is_activation_checkpointing

    def activation_checkpointing_enable(self, **kwargs: Any) -> None:
        self.policy.activation_checkpointing_enable(**kwargs)

    def gradient_checkpointing_enable(self, **kwargs: Any) -> None:
        self.policy.gradient_checkpointing_enable(**kwargs)

    def gradient_checkpointing_disable(self) -> None:
        self.policy.gradient_checkpointing_disable()


class PPOTrainer(StepStats, HFTrainer):
    """Each training step is one rollout batch: sample, score, GAE, then ``ppo_epochs`` passes of
    mini-batch updates; the last update is the Trainer's own optimizer step (gradient clipping, scheduler,
    callbacks), the ones before it are taken inside the step."""

    def __init__(self, *args: Any, ctx: RunContext, options: PPOConfig, tree: Any, prompts: list[str],
                 data: Any, share: bool = False, **kwargs: Any) -> None:
        from gencls_plugins.trainers.ppo.losses import KLController

        super().__init__(*args, **kwargs)
        self.ctx, self.options, self.tree, self.prompts, self.data = ctx, options, tree, prompts, data
        self.share = share  # score and update with the prompts' shared prefix encoded once per rollout batch
        self.kl = KLController(options.kl_coef, options.kl_target, options.kl_horizon)

    def training_step(self, model, inputs, num_items_in_batch=None):
        from trl.models.utils import unwrap_model_for_generation

        from gencls_plugins.trainers.guards import require_finite
        from gencls_plugins.trainers.ppo import losses
        from gencls_plugins.trainers.ppo.rollouts import prefix_first, sample, score, token_logprobs

        opts, ctx = self.options, self.ctx
        model.eval()  # no dropout: log-probs of the rollout and of the updates must agree
        rows = inputs["index"].tolist()
        with unwrap_model_for_generation(model, self.accelerator) as unwrapped:
            rollout = sample(LoadedModel(unwrapped.policy, ctx.lm.tokenizer, ctx.lm.ref),
                             [self.prompts[i] for i in rows], opts.max_completion_length, opts.temperature,
                             self.tree)
        if self.share:
            rollout = prefix_first(rollout)
        scores, reward_means = score(ctx, [self.data["prompt"][i] for i in rows], rollout.texts,
                                     [self.data["label"][i] for i in rows])
        mask = rollout.mask.float()
        unscorable = scores.isnan()  # every reward returned None: left out of the update, as in TRL's GRPO
        mask[unscorable.to(mask.device)] = 0
        scores = scores.nan_to_num(0.0).to(mask.device)
        policy = self.accelerator.unwrap_model(model).policy
        with torch.no_grad():
            old_logprobs, old_values = self._scored(model, rollout)
            with policy.disable_adapter():
                ref_logprobs = token_logprobs(policy, rollout, opts.temperature, tree=self.tree)
        rewards, token_kl = losses.token_rewards(scores, old_logprobs, ref_logprobs, mask, self.kl.value)
        advantages, returns = losses.gae(rewards, old_values, mask, opts.gamma, opts.lam)
        if opts.whiten_advantages:
            advantages = losses.whiten(advantages, mask)
        mini = opts.mini_batch_size // ctx.processes
        batches = [mb for _ in range(opts.ppo_epochs) for mb in torch.randperm(len(rows)).split(mini)]
        stats = []
        for k, mb in enumerate(batches):
            for micro in mb.split(-(-len(mb) // opts.gradient_accumulation)):
                logprobs, values = self._scored(model, rollout, micro)
                pg, clipped = losses.policy_loss(logprobs, old_logprobs[micro], advantages[micro], mask[micro],
                                                 opts.clip_range)
                vf = losses.value_loss(values, old_values[micro], returns[micro], mask[micro],
                                       opts.clip_range_value)
                stats.append((pg.item(), vf.item(), clipped.item()))
                require_finite(ctx, {"policy_loss": stats[-1][0], "value_loss": stats[-1][1]},
                               self.state.global_step + 1)
                self.accelerator.backward((pg + opts.vf_coef * vf) * len(micro) / len(mb))
            if k < len(batches) - 1:  # the last mini-batch's step is the Trainer's
                self.accelerator.clip_grad_norm_(model.parameters(), opts.max_grad_norm)
                self.optimizer.step()
                self.optimizer.zero_grad()
        mean_kl = self.accelerator.gather(token_kl.sum(1).mean()[None]).mean().item()
        require_finite(ctx, {"kl": mean_kl}, self.state.global_step + 1)
        self.kl.update(mean_kl, opts.batch_size)
        scored = scores[~unscorable.to(scores.device)]
        self._record({"reward": scored.mean().item() if len(scored) else None, **reward_means,
                      "kl": mean_kl, "kl_coef": self.kl.value,
                      "policy_loss": sum(s[0] for s in stats) / len(stats),
                      "value_loss": sum(s[1] for s in stats) / len(stats),
                      "clip_fraction": sum(s[2] for s in stats) / len(stats)})
        return torch.tensor(stats[-1][0] + opts.vf_coef * stats[-1][1], device=self.args.device)

    def _scored(self, model: Any, rollout: Any, rows: Any = None) -> tuple[Any, Any]:
        """Log-probabilities of the sampled tokens and the values before each, through the (wrapped)
        policy-and-value module, so DDP reduces the gradients."""
        from gencls_plugins.trainers.ppo.rollouts import completion_logprobs, model_inputs

        inputs = model_inputs(rollout, rows)
        logits, values = model(**inputs)
        completion = rollout.ids.shape[1] - rollout.prompt_length
        return (completion_logprobs(logits, rollout, inputs["input_ids"], self.options.temperature, self.tree),
                values[:, -completion - 1:-1])

    def _record(self, values: dict[str, float | None]) -> None:
        """``record`` the averages over the processes of what this process measured."""
        keys = [k for k, v in values.items() if v is not None]
        local = torch.tensor([float(values[k]) for k in keys], device=self.args.device)
        self.record(dict(zip(keys, self.accelerator.gather(local[None]).nanmean(0).tolist())))

    def _save(self, output_dir: str | None = None, state_dict: Any = None) -> None:
        """The adapter, the value head (safetensors) and the KL coefficient, not the frozen base model."""
        from pathlib import Path

        from safetensors.torch import save_file

        from gencls_core.results import write_json

        folder = Path(output_dir or self.args.output_dir)
        folder.mkdir(parents=True, exist_ok=True)
        wrapper = self.accelerator.unwrap_model(self.model)
        wrapper.policy.save_pretrained(folder)
        save_file({k: v.contiguous() for k, v in wrapper.value_head.state_dict().items()},
                  str(folder / "value_head.safetensors"))
        write_json(folder / "ppo_state.json", {"kl_coef": self.kl.value})

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: Any = None) -> None:
        import json
        from pathlib import Path

        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        folder = Path(resume_from_checkpoint)
        wrapper = self.accelerator.unwrap_model(model or self.model)
        set_peft_model_state_dict(wrapper.policy, load_file(str(folder / "adapter_model.safetensors")))
        wrapper.value_head.load_state_dict(load_file(str(folder / "value_head.safetensors")))
        self.kl.value = json.loads((folder / "ppo_state.json").read_text())["kl_coef"]
