"""SFT throughput on SmolLM2: plain TRL, gencls with its speed options off, with the answer-only LM head, with
length-grouped batches too, and the floor (forward + backward of the LoRA backbone alone); and the label-space RL
trainer against its own floor.

    python benchmarks/train_speed.py [--steps 20] [--datasets rotten-tomatoes bbc-news] [--out FILE]

Every variant trains the same LoRA SFT stage (r16 q/k/v/o, batch 8, lr 2e-4, zero-shot prompt, no checkpoints;
``rotten-tomatoes-3shot``: the Rotten Tomatoes rows with three fixed demonstrations in every prompt) on the same
rows (BBC articles cut to their first 100 words), in one process: the plain TRL script on the rows gencls's
training-prompt code builds, the gencls variants as real ``gencls`` runs (``sft`` options ``answer_only_head``,
``group_by_length`` and ``shared_prefix``: the prompt tokens a batch shares encoded once). Per step: the median wall
time of steps 3..N (a callback), real tokens/s from the attention masks, and the padded/real token ratio of the
batches the sampler draws. The first-20-step losses of plain TRL, gencls off and the answer-only head must agree
(same batches); grouping changes the batches, so its losses differ; the shared prefix has grouping's batches, its
losses differ from them only by LoRA dropout drawing one mask for the prefix. Results are appended to ``--out``
(JSON lines) as each variant finishes and skipped when run again, so a measurement can be resumed. Run it on a quiet
machine: another torch process on 2 cores makes the timings worthless.

``label-pg`` (lr 5e-5, beta 0: no reference pass) is timed the same way, against its floor: forward + backward of
the LoRA backbone alone on the same packed batches (each prompt followed by every label answer, the block-diagonal
mask), i.e. label-pg without the answer-position LM head, the loss and the optimiser step.

The sampling trainers are timed against themselves with their options off: ``ppo`` (defaults: rollout batch 8
sampled up to 8 tokens, 4 PPO epochs of mini-batches of 4) with and without its shared prefix (the prompt tokens
every prompt of a rollout batch starts with, encoded once in its scoring of policy, reference and values and in
its updates); ``grpo`` (defaults: 16 completions of up to 16 tokens, 8 per prompt) with TRL's fused LM head, with
the answer-only head, and with it sharing the prefix. Sampling is the same in every variant. Their "losses" are
the policy losses of each step. ``dpo`` (defaults: batch 8 of a gold answer against the starting policy's most
probable wrong label) is timed the same three ways."""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

LORA = {"r": 16, "alpha": 32, "dropout": 0.05, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]}
FLOOR = "floor: LoRA backbone fwd+bwd, grouped batches"
# variant -> (answer_only_head, group_by_length, shared_prefix) of gencls's sft; None: a plain TRL script
VARIANTS = {"plain TRL": None, "gencls, options off": (False, False, False),
            "gencls, answer-only head": (True, False, False),
            "gencls, answer-only head + grouping": (True, True, False),
            "gencls, answer-only head + grouping + shared prefix": (True, True, True), FLOOR: (True, True, False)}
LABEL_PG, LABEL_PG_FLOOR = "label-pg", "floor: label-pg packed batches, LoRA backbone fwd+bwd"
LABEL_PG_SHARED = "label-pg + shared prefix"
# the sampling trainers and dpo: variant -> (trainer, its options); each is compared with its trainer's first variant
STAGES = {"ppo": ("ppo", {"shared_prefix": False}), "ppo + shared prefix": ("ppo", {"shared_prefix": True}),
           "grpo, TRL's head": ("grpo", {"answer_only_head": False, "shared_prefix": False}),
           "grpo + answer-only head": ("grpo", {"shared_prefix": False}),
           "grpo + answer-only head + shared prefix": ("grpo", {"shared_prefix": True}),
           "dpo, TRL's head": ("dpo", {"answer_only_head": False, "shared_prefix": False}),
           "dpo + answer-only head": ("dpo", {"shared_prefix": False}),
           "dpo + answer-only head + shared prefix": ("dpo", {"shared_prefix": True})}
TASKS = {"rotten-tomatoes": "Classify the sentiment of the movie review.",
         "bbc-news": "Classify the topic of the news article.",
         "trec-fine": "Classify the question by the type of its answer."}  # 50 classes: a long shared label list
# a dataset row that trains on another's rows with another prompt: name -> (rows of, prompt strategy)
PROMPTED = {"rotten-tomatoes-3shot": ("rotten-tomatoes", {"name": "few-shot", "n": 3, "mode": "fixed"})}
OUT = Path("runs/benchmarks/train_speed")


def _csv(dataset: str, steps: int) -> Path:
    """8 x steps training rows and 8 test rows of the dataset (BBC articles cut to 100 words), as a CSV."""
    import csv

    from gencls_core import Engine

    dataset = PROMPTED.get(dataset, (dataset,))[0]
    path = OUT / f"{dataset}-{steps}.csv"
    if path.is_file():
        return path
    name = {"rotten-tomatoes": "movie-reviews", "bbc-news": "bbc-news", "trec-fine": "trec-questions"}[dataset]
    ctx = Engine({"dataset": name, "splits": {"test_size": 8, "train_size": 8 * steps}}).loaded_context(
        "cpu", progress=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        for split in ("train", "test"):
            rows = ctx.data.splits[split]
            writer.writerows((" ".join(t.split()[:100]), label) for t, label in zip(rows["text"], rows["label"]))
    return path


def _config(dataset: str, steps: int, head: bool = False, grouped: bool = False, shared: bool = False,
            trainer: str = "sft", options: dict | None = None) -> dict:
    stage = {"name": "sft", "max_steps": steps, "batch_size": 8, "learning_rate": 2e-4, "lora": LORA,
             "logging_steps": 1, "save_steps": 100000, "report_to": ["none"], "answer_only_head": head,
             "group_by_length": grouped, "shared_prefix": shared}
    if trainer == "label-pg":
        stage = {"name": "label-pg", "max_steps": steps, "batch_size": 8, "learning_rate": 5e-5, "beta": 0.0,
                 "lora": LORA, "logging_steps": 1, "save_steps": 100000, "report_to": ["none"],
                 "shared_prefix": shared}
    if trainer in ("ppo", "grpo", "dpo"):
        stage = {"name": trainer, "max_steps": steps, "learning_rate": 1e-5, "lora": LORA, "logging_steps": 1,
                 "save_steps": 100000, "report_to": ["none"], **(options or {})}
    rows, prompt = PROMPTED.get(dataset, (dataset, "zero-shot"))
    return {"dataset": {"name": "local", "path": str(_csv(dataset, steps)), "task": TASKS[rows]}, "prompt": prompt,
            "splits": {"test_size": 8}, "progress": False, "output_dir": str(OUT / "runs"), "trainers": [stage]}


def step_timer():
    """A TrainerCallback recording each optimiser step's wall time in ``.times``."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.times: list[float] = []

        def on_step_begin(self, args, state, control, **kwargs):
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.times.append(time.perf_counter() - self.start)

    return StepTimer()


def _standalone(dataset: str, steps: int, grouped: bool, callbacks: list):
    """A plain TRL SFTTrainer on the rows gencls's sft builds (same prompt, model, LoRA and arguments)."""
    from trl import SFTConfig, SFTTrainer

    from gencls_core import Engine
    from gencls_plugins.trainers.conversations import prompt_completion
    from gencls_plugins.trainers.options import LoraOptions
    from gencls_plugins.trainers.rationales import RationaleOptions

    engine = Engine(_config(dataset, steps))
    ctx = engine.loaded_context("cpu", progress=False, training=True)
    rows = prompt_completion(ctx, "train", "sft", RationaleOptions(), None).data
    args = SFTConfig(output_dir=str(OUT / "trl"), seed=0, data_seed=0, max_steps=steps, per_device_train_batch_size=8,
                     learning_rate=2e-4, logging_steps=1, save_strategy="no", report_to=["none"],
                     activation_checkpointing=False, bf16=False, use_cpu=True, disable_tqdm=True, max_length=1024,
                     packing=False,
                     train_sampling_strategy="group_by_length" if grouped else "random")
    return SFTTrainer(model=ctx.lm.model, args=args, train_dataset=rows, processing_class=ctx.lm.tokenizer,
                      peft_config=LoraOptions(**LORA).peft_config(), callbacks=callbacks)


def _padding(trainer, steps: int) -> tuple[float, int]:
    """padded/real tokens over the first ``steps`` batches the trainer's sampler draws, and the real tokens."""
    from transformers import set_seed

    set_seed(0)
    real = padded = 0
    for i, batch in enumerate(trainer.get_train_dataloader()):
        if i == steps:
            break
        padded += batch["input_ids"].numel()
        real += int(batch["attention_mask"].sum())
    return padded / real, real


def _floor(trainer, steps: int) -> float:
    """Median seconds of forward + backward of the LoRA backbone alone (no LM head, no optimiser step)."""
    from transformers import set_seed

    model = trainer.model.train()
    causal = model.get_base_model()
    times = []
    set_seed(0)
    for i, batch in enumerate(trainer.get_train_dataloader()):
        if i == steps:
            break
        start = time.perf_counter()
        hidden = causal.base_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                   use_cache=False).last_hidden_state
        hidden.float().pow(2).mean().backward()
        model.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times[2:])


def _label_pg_batches(dataset: str, steps: int) -> tuple:
    """The LoRA policy, the answers and the first ``steps`` packed label-pg batches of 8 (dataset order)."""
    from peft import get_peft_model

    from gencls_core import Engine
    from gencls_core.answers import answer_token_ids
    from gencls_core.chat import render_prompt
    from gencls_plugins.trainers.conversations import prompts_with_labels
    from gencls_plugins.trainers.label_pg.packed import collate
    from gencls_plugins.trainers.options import LoraOptions

    ctx = Engine(_config(dataset, steps, trainer="label-pg")).loaded_context("cpu", progress=False, training=True)
    tok = ctx.lm.tokenizer
    answers = answer_token_ids(tok, ctx.train_labels, end_of_answer=True)
    prompts = [tok(render_prompt(tok, m), add_special_tokens=False)["input_ids"]
               for m in prompts_with_labels(ctx, "train", "label-pg").data["prompt"]]
    batches = [collate(prompts[start:start + 8], answers, tok.pad_token_id) for start in range(0, 8 * steps, 8)]
    return get_peft_model(ctx.lm.model, LoraOptions(**LORA).peft_config()), answers, batches


def _packed_tokens(batches: list, answers: list[list[int]]) -> tuple[float, int]:
    """padded/real tokens of label-pg's packed batches, and the real tokens."""
    padded = sum(b["input_ids"].numel() for b in batches)
    real = sum(int(b["prompt_mask"].sum()) + len(b["input_ids"]) * sum(map(len, answers)) for b in batches)
    return padded / real, real


def _label_pg_floor(model: Any, answers: list[list[int]], batches: list) -> float:
    """Median seconds of forward + backward of the LoRA backbone alone on label-pg's packed batches."""
    from gencls_core.scoring import packed_attention_mask

    model.train()
    causal = model.get_base_model()
    times = []
    for batch in batches:
        mask = packed_attention_mask(batch["prompt_mask"], answers, causal.dtype,
                                     causal.config._attn_implementation)
        start = time.perf_counter()
        hidden = causal.model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], attention_mask=mask,
                              use_cache=False).last_hidden_state
        hidden.float().pow(2).mean().backward()
        model.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times[2:])


def _stage_run(dataset: str, steps: int, trainer: str, shared: bool = False,
               options: dict | None = None) -> tuple[float, list[float]]:
    """Median step seconds of a real gencls label-pg, ppo or grpo stage (steps 3..N), and its (policy) losses."""
    from gencls_core import Engine, hookimpl
    from gencls_core.plugins import load_plugins
    from gencls_core.registry import PluginInfo

    timer = step_timer()

    class Timing:
        @hookimpl
        def gencls_trainer_callbacks(self, ctx):
            return [timer]

    plugins = load_plugins(modules=[(PluginInfo("timer", "benchmarks", "benchmarks", "0"), Timing())])
    config = _config(dataset, steps, shared=shared, trainer=trainer, options=options)
    run_dir = Engine(config, plugins=plugins).run().run_dir
    history = json.loads((run_dir / f"stages/1-{trainer}/log_history.json").read_text())
    key = "policy_loss" if trainer == "ppo" else "loss"  # grpo's loss is its policy loss
    return statistics.median(timer.times[2:]), [h[key] for h in history if key in h]


def measure(dataset: str, steps: int, variant: str) -> dict:
    from transformers import set_seed

    from gencls_core import Engine, hookimpl
    from gencls_core.plugins import load_plugins
    from gencls_core.registry import PluginInfo

    if variant in (LABEL_PG, LABEL_PG_SHARED, LABEL_PG_FLOOR):
        model, answers, batches = _label_pg_batches(dataset, steps)
        ratio, real = _packed_tokens(batches, answers)
        losses: list[float] = []
        if variant != LABEL_PG_FLOOR:
            del model
            seconds, losses = _stage_run(dataset, steps, "label-pg", shared=variant == LABEL_PG_SHARED)
        else:
            seconds = _label_pg_floor(model, answers, batches)
        return {"dataset": dataset, "variant": variant, "steps": steps, "seconds_per_step": seconds,
                "steps_per_second": 1 / seconds, "real_tokens_per_second": real / steps / seconds,
                "padded_over_real": ratio, "losses": losses}
    if variant in STAGES:  # sampled answers (or pairs): no fixed batches to count tokens in
        seconds, losses = _stage_run(dataset, steps, STAGES[variant][0], options=STAGES[variant][1])
        return {"dataset": dataset, "variant": variant, "steps": steps, "seconds_per_step": seconds,
                "steps_per_second": 1 / seconds, "real_tokens_per_second": None, "padded_over_real": None,
                "losses": losses}
    options = VARIANTS[variant]
    grouped = bool(options and options[1])
    timer = step_timer()
    trainer = _standalone(dataset, steps, grouped, [timer])
    ratio, real = _padding(trainer, steps)
    losses: list[float] = []
    if variant == FLOOR:
        seconds = _floor(trainer, steps)
    elif options is None:
        set_seed(0)
        trainer.train()
        seconds = statistics.median(timer.times[2:])
        losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    else:
        class Timing:
            @hookimpl
            def gencls_trainer_callbacks(self, ctx):
                return [timer]

        del trainer
        timer.times.clear()
        plugins = load_plugins(modules=[(PluginInfo("timer", "benchmarks", "benchmarks", "0"), Timing())])
        run_dir = Engine(_config(dataset, steps, *options), plugins=plugins).run().run_dir
        seconds = statistics.median(timer.times[2:])
        history = json.loads((run_dir / "stages/1-sft/log_history.json").read_text())
        losses = [h["loss"] for h in history if "loss" in h]
    return {"dataset": dataset, "variant": variant, "steps": steps, "seconds_per_step": seconds,
            "steps_per_second": 1 / seconds, "real_tokens_per_second": real / steps / seconds,
            "padded_over_real": ratio, "losses": losses}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--datasets", nargs="*", default=["rotten-tomatoes", "bbc-news"])
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS),
                    choices=[*VARIANTS, LABEL_PG, LABEL_PG_SHARED, LABEL_PG_FLOOR, *STAGES])
    ap.add_argument("--out", type=Path, default=OUT / "results.jsonl")
    args = ap.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    done = [json.loads(line) for line in args.out.read_text().splitlines()] if args.out.is_file() else []
    for dataset in args.datasets:
        for variant in args.variants:
            if any(r["dataset"] == dataset and r["variant"] == variant and r["steps"] == args.steps for r in done):
                continue
            result = measure(dataset, args.steps, variant)
            done.append(result)
            with open(args.out, "a") as f:
                f.write(json.dumps(result) + "\n")
            print(f"{dataset} | {variant}: {result['seconds_per_step']:.2f} s/step", flush=True)
    report(done, args.steps)


def report(results: list[dict], steps: int) -> None:
    print(f"\nLoRA SFT on SmolLM2-135M-Instruct, batch 8, {steps} steps, CPU; median step time of steps 3..{steps}")
    print("| dataset | variant | s/step | steps/s | real tokens/s | padded/real | vs plain TRL | vs floor |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        if r["steps"] != steps:
            continue
        same = {x["variant"]: x for x in results if x["dataset"] == r["dataset"] and x["steps"] == steps}
        label_pg, staged = r["variant"] in (LABEL_PG, LABEL_PG_SHARED, LABEL_PG_FLOOR), STAGES.get(r["variant"])
        trl = None if label_pg or staged else same.get("plain TRL")
        floor = same.get(LABEL_PG_FLOOR) if label_pg else None if staged else same.get(FLOOR)
        vs_trl = f"{trl['seconds_per_step'] / r['seconds_per_step']:.2f}x" if trl else ""
        vs_floor = f"{r['seconds_per_step'] / floor['seconds_per_step']:.2f}x" if floor else ""
        first = next((v for v, (t, _) in STAGES.items() if staged and t == staged[0]), None)
        if staged and first != r["variant"] and first in same:  # no floor: against the trainer with options off
            vs_floor = f"{same[first]['seconds_per_step'] / r['seconds_per_step']:.2f}x faster than {first}"
        tokens = "" if r["real_tokens_per_second"] is None else f"{r['real_tokens_per_second']:.0f}"
        padded = "" if r["padded_over_real"] is None else f"{r['padded_over_real']:.2f}"
        print(f"| {r['dataset']} | {r['variant']} | {r['seconds_per_step']:.2f} | {r['steps_per_second']:.3f} | "
              f"{tokens} | {padded} | {vs_trl} | {vs_floor} |")
    for dataset in sorted({r["dataset"] for r in results}):
        same = {x["variant"]: x["losses"] for x in results if x["dataset"] == dataset and x["steps"] == steps}
        print(f"\n{dataset}: loss of the first {steps} steps")
        for variant, losses in same.items():
            if losses:
                print(f"- {variant}: {', '.join(f'{x:.4f}' for x in losses)}")


if __name__ == "__main__":
    main()
