"""PPO with a learned critic and rule-based rewards on a LoRA policy (arXiv 2410.11020), built on
transformers + peft + torch, with TRL's log-softmax utility (TRL >= 1.13 has no PPOTrainer)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from gencls_core.chat import render_prompt
from gencls_core.errors import ConfigError
from gencls_core.interfaces import LoadedModel, Options, Trainer
from gencls_plugins.trainers.conversations import prompts_with_labels
from gencls_plugins.trainers.difficulty import DifficultyBand, keep_band
from gencls_plugins.trainers.guards import require_finite, require_finite_weights
from gencls_plugins.trainers.loop_checkpoints import last_checkpoint, load_checkpoint, save_checkpoint
from gencls_plugins.trainers.options import LoraOptions
from gencls_plugins.trainers.stage import finish_stage, lora_policy, require_rewards

if TYPE_CHECKING:
    from gencls_core.interfaces import RunContext


class PPO(Trainer):
    """PPO: LoRA policy with a value head, KL penalty to the adapter-free base model, GAE, clipped losses."""

    name = "ppo"
    stage_metrics = ("steps", "loss", "reward")

    class Config(Options):
        lora: LoraOptions = Field(default_factory=LoraOptions, description="LoRA adapter of the policy (an "
                                                                            "earlier stage's adapter is kept)")
        max_steps: int = Field(100, ge=1, description="rollout batches (each followed by the PPO updates)")
        batch_size: int = Field(8, ge=1, description="prompts per rollout batch")
        mini_batch_size: int = Field(4, ge=1, description="completions per gradient step")
        ppo_epochs: int = Field(4, ge=1, description="passes over each rollout batch")
        learning_rate: float = Field(1e-5, gt=0, description="AdamW learning rate (adapter and value head)")
        max_completion_length: int = Field(8, ge=1, description="most tokens sampled per answer")
        temperature: float = Field(1.0, gt=0, description="sampling temperature (log-probs use the same)")
        kl_coef: float = Field(0.05, ge=0, description="per-token KL penalty coefficient (initial, if adaptive)")
        kl_target: float | None = Field(None, gt=0, description="adaptive KL: target KL per answer (null: fixed)")
        kl_horizon: int = Field(10000, ge=1, description="adaptive KL horizon, in answers")
        gamma: float = Field(1.0, ge=0, le=1, description="discount")
        lam: float = Field(0.95, ge=0, le=1, description="GAE lambda")
        clip_range: float = Field(0.2, gt=0, description="policy ratio clipping")
        clip_range_value: float = Field(0.2, gt=0, description="value clipping")
        vf_coef: float = Field(0.1, ge=0, description="value loss weight")
        whiten_advantages: bool = Field(True, description="normalise advantages per rollout batch")
        max_grad_norm: float = Field(1.0, gt=0, description="gradient clipping")
        logging_steps: int = Field(1, ge=1, description="log every this many rollout batches")
        save_steps: int = Field(50, ge=1, description="checkpoint every this many rollout batches")
        constrained: bool = Field(
            False, description="sample only the label answers (the constrained decoder's prefix tree over their "
                               "tokens); the rollout log-probabilities, PPO ratios and KL are those of the policy "
                               "restricted to them (renormalised over the allowed tokens at each step), so sampler "
                               "and optimised policy agree. Needs max_completion_length >= the longest answer")
        difficulty_band: DifficultyBand | None = Field(
            None, description="{low, high}: before the stage, score the training split with the starting policy "
                              "(perplexity decoding) and keep only the examples whose gold-answer probability lies "
                              "in [low, high], the ones it is unsure or wrong about (high defaults to 0.9); the "
                              "summary records band_kept of band_of. null: every example")

    def train(self, ctx: RunContext) -> dict[str, Any]:
        import torch
        from tqdm.auto import tqdm

        from gencls_plugins.decoders.answers import PrefixTree, answer_token_ids
        from gencls_plugins.trainers import ppo_math as pm
        from gencls_plugins.trainers.rollouts import end_ids, example_order, sample, score, token_logprobs

        cfg = self.config
        require_rewards(ctx, self.name)
        if cfg.batch_size % cfg.mini_batch_size:
            raise ConfigError(f"trainers: ppo batch_size ({cfg.batch_size}) must be a multiple of "
                              f"mini_batch_size ({cfg.mini_batch_size})")
        torch.manual_seed(ctx.seed)
        data, band = keep_band(ctx, prompts_with_labels(ctx, "train", self.name), cfg.difficulty_band, self.name)
        prompts = [render_prompt(ctx.lm.tokenizer, m) for m in data["prompt"]]
        model = lora_policy(ctx, cfg.lora)
        tree = None
        if cfg.constrained:
            answers = answer_token_ids(ctx.lm.tokenizer, ctx.train_labels, end_of_answer=True)
            if max(map(len, answers)) > cfg.max_completion_length:
                raise ConfigError(f"trainers: ppo constrained needs max_completion_length >= {max(map(len, answers))}"
                                  f" (the longest label answer in tokens), got {cfg.max_completion_length}")
            tree = PrefixTree(answers, end_ids(ctx.lm))
        value_head = torch.nn.Linear(model.config.get_text_config().hidden_size, 1).to(model.device)
        torch.nn.init.zeros_(value_head.weight)
        torch.nn.init.zeros_(value_head.bias)
        params = [p for p in model.parameters() if p.requires_grad] + list(value_head.parameters())
        optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate)
        kl = pm.KLController(cfg.kl_coef, cfg.kl_target, cfg.kl_horizon)
        state = {"step": 0, "log_history": []}
        checkpoint = last_checkpoint(ctx)
        if checkpoint:
            state = load_checkpoint(checkpoint, model, optimizer, {"value_head": value_head})
            kl.value = state.pop("kl_coef")
        resumed_from = state["step"]
        order = example_order(len(prompts), ctx.seed, cfg.max_steps * cfg.batch_size)
        model.eval()  # no dropout: log-probs of the rollout and of the updates must agree
        bar = tqdm(total=cfg.max_steps, initial=state["step"], disable=not ctx.progress, desc="ppo")
        while state["step"] < cfg.max_steps:
            rows = order[state["step"] * cfg.batch_size:(state["step"] + 1) * cfg.batch_size]
            rollout = sample(LoadedModel(model, ctx.lm.tokenizer, ctx.lm.ref), [prompts[i] for i in rows],
                             cfg.max_completion_length, cfg.temperature, tree)
            scores, reward_means = score(ctx, [data["prompt"][i] for i in rows], rollout.texts,
                                         [data["label"][i] for i in rows])
            mask = rollout.mask.float()
            unscorable = scores.isnan()  # every reward returned None: left out of the update, as in TRL's GRPO
            mask[unscorable.to(mask.device)] = 0
            scores = scores.nan_to_num(0.0)
            with torch.no_grad():
                old_logprobs, old_values = token_logprobs(model, rollout, cfg.temperature, value_head, tree=tree)
                with model.disable_adapter():
                    ref_logprobs, _ = token_logprobs(model, rollout, cfg.temperature, tree=tree)
            rewards, token_kl = pm.token_rewards(scores.to(mask.device), old_logprobs, ref_logprobs, mask, kl.value)
            advantages, returns = pm.gae(rewards, old_values, mask, cfg.gamma, cfg.lam)
            if cfg.whiten_advantages:
                advantages = pm.whiten(advantages, mask)
            stats = []
            for _ in range(cfg.ppo_epochs):
                for mb in torch.randperm(len(rows)).split(cfg.mini_batch_size):
                    logprobs, values = token_logprobs(model, rollout, cfg.temperature, value_head, rows=mb, tree=tree)
                    pg, clipped = pm.policy_loss(logprobs, old_logprobs[mb], advantages[mb], mask[mb],
                                                 cfg.clip_range)
                    vf = pm.value_loss(values, old_values[mb], returns[mb], mask[mb], cfg.clip_range_value)
                    loss = pg + cfg.vf_coef * vf
                    stats.append((pg.item(), vf.item(), clipped.item()))
                    require_finite(ctx, {"policy_loss": stats[-1][0], "value_loss": stats[-1][1]}, state["step"] + 1)
                    optimizer.zero_grad()
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
                    optimizer.step()
            require_finite_weights(ctx, model, state["step"] + 1)
            require_finite_weights(ctx, value_head, state["step"] + 1)
            mean_kl = token_kl.sum(1).mean().item()
            require_finite(ctx, {"kl": mean_kl}, state["step"] + 1)
            kl.update(mean_kl, len(rows))
            state["step"] += 1
            bar.update(1)
            if state["step"] % cfg.logging_steps == 0 or state["step"] == cfg.max_steps:
                n = len(stats)
                state["log_history"].append({
                    "step": state["step"], "reward": scores[~unscorable].mean().item() if (~unscorable).any()
                    else None, **reward_means, "kl": mean_kl,
                    "kl_coef": kl.value, "policy_loss": sum(s[0] for s in stats) / n,
                    "value_loss": sum(s[1] for s in stats) / n, "clip_fraction": sum(s[2] for s in stats) / n})
            if state["step"] % cfg.save_steps == 0 or state["step"] == cfg.max_steps:
                save_checkpoint(ctx.stage_dir / "checkpoints" / f"checkpoint-{state['step']}", model, optimizer,
                                {**state, "kl_coef": kl.value}, {"value_head": value_head})
        bar.close()
        ctx.lm = LoadedModel(model, ctx.lm.tokenizer, ctx.lm.ref)
        history = state["log_history"]
        summary = finish_stage(ctx, history, {"steps": state["step"], "resumed_from_step": resumed_from,
                                              "train_examples": len(prompts), **band})
        if history:
            summary["kl"] = history[-1]["kl"]
        return summary
