"""Training throughput and peak GPU memory of each trainer on a CUDA GPU (prints a table; not a timed test).

    python benchmarks/gpu.py [--model PATH] [--steps 20]

Each trainer runs ``--steps`` optimiser steps (PPO: rollout batches) of its default recipe on Rotten Tomatoes,
zero-shot prompt (GTA: the guess-think-answer prompt), bf16 as ``device: cuda`` sets it, no checkpoints, then
evaluates 100 test reviews. Per trainer: seconds per step (the Trainer's
``train_runtime`` over its steps, model loading and evaluation excluded), examples and tokens per second where
the trainer logs ``num_tokens`` (SFT, GRPO and GTA: prompt and completion tokens), and the peak memory PyTorch
allocated. An example is a training example for SFT and label-pg, a sampled completion for GRPO and GTA
(``batch_size`` counts completions), a prompt with its one sampled answer for PPO. ``sft x8`` is SFT with 8x
the batch, to show what the default batch of 8 leaves unused; "checkpointing" turns activation checkpointing on
(off by default).
"""

from __future__ import annotations

import argparse
import json

import torch

from gencls_core import Engine

STAGES = {
    "sft": ({"name": "sft"}, None),
    "sft x8": ({"name": "sft", "batch_size": 64}, None),
    "sft, checkpointing": ({"name": "sft", "gradient_checkpointing": True}, None),
    "sft x8, checkpointing": ({"name": "sft", "batch_size": 64, "gradient_checkpointing": True}, None),
    "label-pg": ({"name": "label-pg"}, None),
    "grpo": ({"name": "grpo"}, None),
    "ppo": ({"name": "ppo"}, None),
    "gta": ({"name": "gta", "max_completion_length": 64}, {"name": "zero-shot", "reasoning": "gta"}),
}


def measure(name: str, model: str | None, steps: int) -> str:
    stage, prompt = STAGES[name]
    config = {"dataset": "movie-reviews", "device": "cuda", "progress": False, "output_dir": "runs/benchmarks/gpu",
              "splits": {"train_size": 1000, "test_size": 100},
              "trainers": [{**stage, "max_steps": steps, "save_steps": 10**6, "report_to": ["none"]}],
              **({"model": {"name": "hf", "path": model}} if model else {}),
              **({"prompt": prompt, "decoder": {"name": "generate", "max_new_tokens": 64}} if prompt else {})}
    torch.cuda.reset_peak_memory_stats()
    result = Engine(config).run()
    peak = torch.cuda.max_memory_allocated() / 2**30
    history = json.loads((result.run_dir / f"stages/1-{stage['name']}/log_history.json").read_text())
    runtime = next(h["train_runtime"] for h in history if "train_runtime" in h)
    tokens = [h["num_tokens"] for h in history if "num_tokens" in h]
    batch = stage.get("batch_size") or Engine({"trainers": [stage]}).resolution.trainers[0].build().config.batch_size
    per_token = f"{tokens[-1] / runtime:,.0f}" if tokens else "-"
    return (f"| {name} | {batch} | {steps} | {runtime / steps:.3f} | {batch * steps / runtime:.1f} | {per_token} | "
            f"{peak:.2f} | {result.stages[-1]['accuracy']:.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="a model folder instead of the embedded SmolLM2 (e.g. one of its architecture)")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--only", nargs="*", choices=sorted(STAGES), help="these trainers only")
    args = ap.parse_args()
    print(f"\n{args.model or 'SmolLM2-135M-Instruct'} on {torch.cuda.get_device_name()}, torch {torch.__version__}")
    print("| trainer | batch | steps | s/step | examples/s | tokens/s | peak GiB | accuracy (100 test) |")
    print("|---|---|---|---|---|---|---|---|")
    measure("sft", args.model, 2)  # warm-up: CUDA context, kernels, allocator
    for name in args.only or STAGES:
        print(measure(name, args.model, args.steps), flush=True)


if __name__ == "__main__":
    main()
