"""Seconds per one-text call of a predictor whose perplexity decoder calibrates on training texts (prints them).

    python benchmarks/predictor_calibration.py [--calibrate prior] [--calls 6]

Zero-shot SmolLM2 on Rotten Tomatoes through ``Engine.predictor`` (what ``predict`` and ``serve`` use): each
call once with the fitted bias dropped first (a fresh fit per call, as before predictors kept it) and once
keeping it. Run it alone: timings beside another job are void.
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calibrate", default="prior", choices=["prior", "domain", "contextual"])
    parser.add_argument("--calls", type=int, default=6)
    args = parser.parse_args()
    from gencls_core import Engine

    engine = Engine({"dataset": "movie-reviews", "progress": False,
                     "decoder": {"name": "perplexity", "calibrate": args.calibrate}})
    predict = engine.predictor()
    texts = list(engine.dataset().splits["test"]["text"][:args.calls])
    fitted = predict.inference.decoder()._fitted
    labels = {}
    for mode in ("fit on every call", "fit kept"):
        seconds = []
        for text in texts:
            if mode == "fit on every call":
                fitted.clear()
            start = time.perf_counter()
            labels.setdefault(text, []).append(predict([text])[0].label)
            seconds.append(time.perf_counter() - start)
        print(f"{args.calibrate}, {mode}: " + ", ".join(f"{s:.2f}" for s in seconds) + " s per call")
    print("same labels:", all(a == b for a, b in labels.values()))


if __name__ == "__main__":
    main()
