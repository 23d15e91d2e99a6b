"""Guess-Think-Answer (arXiv 2509.12108): cross-entropy on a provisional guess, GRPO on the reasoning and the
final answer, each loss masked to its own spans, with a rule for conflicting gradients."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from gencls_core.chat import render_prompt
from gencls_core.errors import ConfigError
from gencls_core.interfaces import LoadedModel, Options, Trainer
from gencls_plugins.trainers.conversations import prompts_with_labels
from gencls_plugins.trainers.guards import require_finite, require_finite_weights
from gencls_plugins.trainers.loop_checkpoints import last_checkpoint, load_checkpoint, save_checkpoint
from gencls_plugins.trainers.options import LoraOptions
from gencls_plugins.trainers.stage import finish_stage, lora_policy, require_rewards

if TYPE_CHECKING:
    from gencls_core.interfaces import RunContext


class GTA(Trainer):
    """Guess-Think-Answer: CE on the guess span, GRPO on think + answer, format reward, conflict rule."""

    name = "gta"
    stage_metrics = ("steps", "loss", "reward")

    class Config(Options):
        lora: LoraOptions = Field(default_factory=LoraOptions, description="LoRA adapter (an earlier stage's "
                                                                            "adapter is kept)")
        max_steps: int = Field(50, ge=1, description="optimiser steps (one group of samples per prompt each)")
        batch_size: int = Field(4, ge=1, description="prompts per step")
        num_generations: int = Field(4, ge=2, description="answers sampled per prompt (the GRPO group)")
        learning_rate: float = Field(1e-5, gt=0, description="AdamW learning rate")
        max_completion_length: int = Field(64, ge=1, description="most tokens sampled per answer")
        temperature: float = Field(1.0, gt=0, description="sampling temperature")
        sft_weight: float = Field(1.0, ge=0, description="lambda_1, weight of the guess cross-entropy")
        rl_weight: float = Field(1.0, ge=0, description="lambda_2, weight of the GRPO loss")
        format_weight: float = Field(0.5, ge=0, description="weight of the guess-think-answer format reward, "
                                                            "added to the run's rewards")
        conflict: Literal["none", "rl-only", "project"] = Field(
            "rl-only", description="when the SFT and RL gradients have negative cosine: keep only the RL "
                                   "gradient, project the SFT one off it, or nothing")
        max_grad_norm: float = Field(1.0, gt=0, description="gradient clipping")
        logging_steps: int = Field(1, ge=1, description="log every this many steps")
        save_steps: int = Field(50, ge=1, description="checkpoint every this many steps")

    def train(self, ctx: RunContext) -> dict[str, Any]:
        import torch
        from tqdm.auto import tqdm

        from gencls_plugins.rewards.answer_format import AnswerFormat
        from gencls_plugins.trainers.gta_math import combine_gradients, group_advantages
        from gencls_plugins.trainers.rollouts import example_order, sample, score, token_logprobs

        cfg = self.config
        require_rewards(ctx, self.name)
        data = prompts_with_labels(ctx, "train", self.name)
        if ctx.train_prompt.answer_form != "gta":
            raise ConfigError(f"trainer 'gta' needs a training prompt that asks for <guess>, <think> and <answer>, "
                              f"but prompt strategy {ctx.train_prompt.name!r} asks for "
                              f"{ctx.train_prompt.answer_form!r} answers; set prompt.reasoning=gta")
        prompts = [render_prompt(ctx.lm.tokenizer, m) for m in data["prompt"]]
        torch.manual_seed(ctx.seed)
        fmt = AnswerFormat(AnswerFormat.Config(form="gta"))
        fmt.setup(ctx.train_labels)
        model = lora_policy(ctx, cfg.lora)
        lm = LoadedModel(model, ctx.lm.tokenizer, ctx.lm.ref)
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate)
        state: dict[str, Any] = {"step": 0, "log_history": []}
        checkpoint = last_checkpoint(ctx)
        if checkpoint:
            state = load_checkpoint(checkpoint, model, optimizer, {})
        resumed_from = state["step"]
        order = example_order(len(prompts), ctx.seed, cfg.max_steps * cfg.batch_size)
        group = cfg.num_generations
        model.eval()  # no dropout: sampled and trained log-probs agree
        bar = tqdm(total=cfg.max_steps, initial=state["step"], disable=not ctx.progress, desc="gta")
        while state["step"] < cfg.max_steps:
            rows = order[state["step"] * cfg.batch_size:(state["step"] + 1) * cfg.batch_size]
            repeated = [i for i in rows for _ in range(group)]
            rollout = sample(lm, [prompts[i] for i in repeated], cfg.max_completion_length, cfg.temperature)
            messages = [data["prompt"][i] for i in repeated]
            scores, means = score(ctx, messages, rollout.texts, [data["label"][i] for i in repeated])
            formed = torch.tensor(fmt(prompts=messages, completions=rollout.texts), dtype=torch.float32)
            rewards = scores.nan_to_num(0.0) + cfg.format_weight * formed  # the format reward always scores
            advantages = group_advantages(rewards, group).to(model.device)
            masks = self.masks(lm.tokenizer, rollout)
            logprobs, _ = token_logprobs(model, rollout, cfg.temperature)
            rl_mask = masks["rl"].float()
            rl_loss = -(advantages[:, None] * logprobs * rl_mask).sum() / rl_mask.sum().clamp(min=1)
            sft_loss = self.guess_loss(lm, [prompts[i] for i in rows],
                                       [ctx.train_labels.verbalize(data["label"][i]) for i in rows])
            require_finite(ctx, {"sft_loss": sft_loss.item(), "rl_loss": rl_loss.item()}, state["step"] + 1)
            g_sft = torch.autograd.grad(sft_loss, params, allow_unused=True)
            g_rl = torch.autograd.grad(rl_loss, params, allow_unused=True)
            zero = [torch.zeros_like(p) for p in params]
            grads, cosine = combine_gradients([g if g is not None else z for g, z in zip(g_sft, zero)],
                                              [g if g is not None else z for g, z in zip(g_rl, zero)],
                                              cfg.sft_weight, cfg.rl_weight, cfg.conflict)
            for p, g in zip(params, grads):
                p.grad = g
            torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad()
            require_finite_weights(ctx, model, state["step"] + 1)
            state["step"] += 1
            bar.update(1)
            if state["step"] % cfg.logging_steps == 0 or state["step"] == cfg.max_steps:
                state["log_history"].append({
                    "step": state["step"], "reward": rewards.mean().item(), **means,
                    "rewards/format": formed.mean().item(), "loss": sft_loss.item(), "sft_loss": sft_loss.item(),
                    "rl_loss": rl_loss.item(), "cosine": cosine, "conflict": cosine < 0})
            if state["step"] % cfg.save_steps == 0 or state["step"] == cfg.max_steps:
                save_checkpoint(ctx.stage_dir / "checkpoints" / f"checkpoint-{state['step']}", model, optimizer,
                                state, {})
        bar.close()
        ctx.lm = lm
        history = state["log_history"]
        return finish_stage(ctx, history, {"steps": state["step"], "resumed_from_step": resumed_from,
                                           "train_examples": len(prompts),
                                           "conflicts": sum(bool(h["conflict"]) for h in history)})

    @staticmethod
    def masks(tokenizer: Any, rollout: Any) -> dict[str, Any]:
        """Per completion token: ``guess`` (the <guess> span: cross-entropy's, never RL's) and ``rl`` (every
        other completion token: the think and answer spans and anything malformed)."""
        import torch

        from gencls_plugins.trainers.gta_math import guess_mask

        completion, mask = rollout.completion, rollout.mask
        guess = torch.zeros_like(mask)
        for row, (ids, m) in enumerate(zip(completion, mask)):
            kept = ids[m.bool()].tolist()
            guess[row, :len(kept)] = torch.tensor(guess_mask(tokenizer, kept), dtype=mask.dtype)
        return {"guess": guess, "rl": mask * (1 - guess)}

    @staticmethod
    def guess_loss(lm: LoadedModel, prompts: list[str], answers: list[str]) -> Any:
        """Cross-entropy of the guess ``<guess>answer</guess>`` after each prompt, on the answer and the closing
        tag only (tokenized as in a whole well-formed answer, see ``gta_math.guess_targets``)."""
        import torch

        from gencls_plugins.trainers.gta_math import guess_targets

        tok = lm.tokenizer
        rows, targets = [], []
        for prompt, answer in zip(prompts, answers):
            head = tok(prompt, add_special_tokens=False)["input_ids"]
            body, marks = guess_targets(tok, answer)
            rows.append(head + body)
            targets.append([-100] * len(head) + [t if m else -100 for t, m in zip(body, marks)])
        width = max(len(r) for r in rows)
        pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], device=lm.model.device)
        labels = torch.tensor([[-100] * (width - len(t)) + t for t in targets], device=lm.model.device)
        attention = (labels != -100) | (torch.arange(width, device=ids.device)[None] >= width - torch.tensor(
            [len(r) for r in rows], device=ids.device)[:, None])
        positions = (attention.long().cumsum(1) - 1).clamp(min=0)
        logits = lm.model(input_ids=ids, attention_mask=attention.long(), position_ids=positions).logits
        return torch.nn.functional.cross_entropy(logits[:, :-1].float().flatten(0, 1), labels[:, 1:].flatten(),
                                                 ignore_index=-100)
