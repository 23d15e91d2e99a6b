"""What dynamic int8 quantization of the linear layers costs and buys on CPU (prints its figures; issue 39).

    python benchmarks/quantize.py RUN_DIR [--n 300] [--modes tensor,channel,keep-head]

A finished run's model (merged, as ``predict`` loads it) decodes the first ``--n`` texts of the run's test split
with its own decoder, in float32 and after torch's dynamic quantization (``torch.ao.quantization.quantize_dynamic``,
qint8 weights, activations quantized per batch), or torchao's weight-only int8:
  tensor      every ``nn.Linear`` per-tensor
  channel     every ``nn.Linear`` per-channel
  keep-head   per-channel, the LM head left in float32 (it scores the labels)
  weight-only int8 weights, float activations (torchao's Int8WeightOnlyConfig; ``pip install torchao``)
Each row: texts/s in float32 and int8 (the same warm predictor, one call over all texts), the speed-up, test
accuracy of both, int8 minus float32 with its paired bootstrap 95% interval, and the share of texts whose label
did not change. Run it on a quiet machine: the timings mean nothing beside another torch job.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch

from gencls_core import Engine
from gencls_core.stats import paired_gain

MODES = ("tensor", "channel", "keep-head", "weight-only")


def quantized(model: torch.nn.Module, mode: str) -> torch.nn.Module:
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    if mode == "weight-only":
        from torchao.quantization import Int8WeightOnlyConfig, quantize_

        quantize_(model, Int8WeightOnlyConfig())
        return model
    if mode == "tensor":
        return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    spec = {name: per_channel_dynamic_qconfig for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear) and (mode != "keep-head" or "lm_head" not in name)}
    return quantize_dynamic(model, spec, dtype=torch.qint8)


def timed_labels(predictor, texts: list[str]) -> tuple[list[str | None], float]:
    predictor(texts[:8])  # warm: one-time costs and the shared prefix cache
    started = time.perf_counter()
    labels = [p.label for p in predictor(texts)]
    return labels, len(texts) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir")
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--modes", default=",".join(MODES))
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # torch's notices that this quantization API is deprecated
    torch.manual_seed(0)
    test = Engine.from_run_dir(args.run_dir).dataset().splits["test"]
    texts, gold = list(test["text"])[:args.n], list(test["label"])[:args.n]
    labels = sorted(set(gold))
    index = {label: i for i, label in enumerate(labels)}
    codes = lambda predicted: np.array([index.get(p, -1) for p in predicted])  # noqa: E731
    print(f"{args.run_dir}: {len(texts)} test texts, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| mode | fp32 texts/s | int8 texts/s | speed-up | fp32 accuracy | int8 accuracy | Δ (int8 - fp32) | "
          "same label |")
    print("|---|---|---|---|---|---|---|---|")
    for mode in args.modes.split(","):
        predictor = Engine.from_run_dir(args.run_dir, overrides=["progress=false"]).predictor()
        full, fp32_rate = timed_labels(predictor, texts)
        lm = predictor.inference.ctx.loaded_lm()
        lm.model = quantized(lm.model, mode)
        small, int8_rate = timed_labels(predictor, texts)
        g, a, b = codes(gold), codes(full), codes(small)
        delta, low, high = paired_gain(g, a, b, len(labels), "accuracy")
        print(f"| {mode} | {fp32_rate:.1f} | {int8_rate:.1f} | {int8_rate / fp32_rate:.2f}x | {(a == g).mean():.3f} | "
              f"{(b == g).mean():.3f} | {100 * delta:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}] | "
              f"{(a == b).mean():.3f} |")


if __name__ == "__main__":
    main()
