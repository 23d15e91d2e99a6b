"""Classify with gencls from Python: the embedded default model on 50 Rotten Tomatoes reviews.

    python examples/api.py [KEY=VALUE ...]      # optional config overrides, as with `gencls run --set`
"""

import sys

from gencls_core import Engine


def main(overrides: list[str]) -> None:
    engine = Engine({"splits": {"test_size": 50}, "decoder": {"name": "perplexity"}}, overrides=overrides)
    result = engine.run()
    print({k: result.metrics[k] for k in ("accuracy", "f1_macro", "n")}, "->", result.run_dir)

    texts = ["A joyous, moving film.", "Two hours I will never get back."]
    for text, pred in zip(texts, Engine.from_run_dir(result.run_dir).predict(texts)):
        print(f"{pred.label:>8}  {text}  {pred.probs}")


if __name__ == "__main__":
    main(sys.argv[1:])
