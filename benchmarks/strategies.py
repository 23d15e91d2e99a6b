"""Zero-shot SmolLM2 under each GenCLS++ inference strategy, on Rotten Tomatoes and BBC News.

    python benchmarks/strategies.py [--rt-size 200] [--bbc-size 60] [--datasets ...] [--only NAME ...]

One Engine run per (dataset, strategy), no training, seeded; perplexity decoding except where the
strategy needs generation (think). Prints accuracy (abstentions count as wrong), macro-F1, unparseable and
abstained answers, accuracy on the answered examples, and wall time.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from gencls_core import Engine

DEFS = Path(__file__).parent.parent / "examples" / "definitions"
STRATEGIES: dict[str, list[str]] = {
    "zero-shot": [],
    "3-shot random": ["prompt={name: few-shot, n: 3, mode: random}"],
    "3-shot fixed": ["prompt={name: few-shot, n: 3, mode: fixed}"],
    "3-shot similar (TF-IDF)": ["prompt={name: few-shot, n: 3, mode: similar}"],
    "3-shot similar (LM states, pool 1000)": ["prompt={name: few-shot, n: 3, mode: similar, retriever: lm, "
                                              "pool: 1000}"],
    "definitions (hand-written)": ["prompt.definitions={defs}/{dataset}.yaml"],
    "definitions (drafted by gencls define)": ["prompt.definitions={defs}/{dataset}.drafted.yaml"],
    "uncertain label (policy abstain)": ["labels={name: uncertain, policy: abstain}"],
    "numeric labels": ["labels=numeric"],
    "numeric labels, shuffled": ["labels={name: numeric, shuffle: true}"],
    "think, then answer (generate)": ["prompt.reasoning=think", "decoder={name: generate, max_new_tokens: 96}"],
}
# BBC articles are long: demonstrations are cut to their first 400 characters
BBC_DEMO = ["prompt.max_demo_chars=400"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rt-size", type=int, default=200)
    ap.add_argument("--bbc-size", type=int, default=60)
    ap.add_argument("--only", nargs="*", help="strategy names to run (default: all)")
    ap.add_argument("--datasets", nargs="*", default=["movie-reviews", "bbc-news"], help="datasets to run")
    ap.add_argument("--output-dir", default="runs/benchmarks")
    args = ap.parse_args()
    print("| dataset | strategy | accuracy | macro-F1 | unparseable | abstained | acc. on answered | wall s |")
    print("|---|---|---|---|---|---|---|---|")
    sizes = {"movie-reviews": args.rt_size, "bbc-news": args.bbc_size}
    for dataset, size in ((d, sizes[d]) for d in args.datasets):
        for name, sets in STRATEGIES.items():
            if args.only and name not in args.only:
                continue
            overrides = [f"dataset={dataset}", f"splits.test_size={size}", "progress=false",
                         f"output_dir={args.output_dir}"]
            overrides += [s.replace("{defs}", str(DEFS)).replace("{dataset}", dataset) for s in sets]
            if dataset == "bbc-news" and "few-shot" in " ".join(sets):
                overrides += BBC_DEMO
            start = time.time()
            m = Engine(overrides=overrides).run().metrics
            print(f"| {dataset} | {name} | {m['accuracy']:.3f} | {m['f1_macro']:.3f} | {m['unparseable']} | "
                  f"{m['abstained']} | {m['selective_accuracy']:.3f} | {time.time() - start:.0f} |", flush=True)


if __name__ == "__main__":
    main()
