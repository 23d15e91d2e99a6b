"""The walk of a run: what following ``Engine.run`` through the code visits.

Runs one seconds-long run (the tiny test model, 40 texts, one SFT step, perplexity decoding) under a profiler
hook and prints: the gencls modules whose functions run, the distinct cross-module calls (caller function ->
callee function, both in gencls), how many of those enter each of the busiest modules, and every place that
assigns a ``RunContext`` attribute after the context is made (module, function, attribute). Run it on any
checkout to compare designs: ``PYTHONPATH=<checkout> python benchmarks/walk.py [plugins ...]`` (the run's
``plugins`` list, e.g. ``no:recipes`` for a checkout older than an installed plugin).
"""

from __future__ import annotations

import sys
import tempfile
from collections import Counter
from pathlib import Path

PACKAGES = ("gencls_core", "gencls_plugins")


def _module(filename: str) -> str | None:
    parts = Path(filename).parts
    for i, part in enumerate(parts):
        if part in PACKAGES or (part == "plugins" and i + 1 < len(parts) and parts[i - 1] != "site-packages"):
            name = "/".join(("gencls_plugins" if part == "plugins" else part, *parts[i + 1:]))
            return name if name.endswith(".py") else None
    return None


def walk(plugins: list[str]) -> None:
    from gencls_core.engine import Engine
    from gencls_core.interfaces import RunContext
    from gencls_core.testing.tiny import make_tiny_model, write_tiny_csv

    folder = Path(tempfile.mkdtemp(prefix="gencls-walk-"))
    config = {"output_dir": str(folder / "runs"), "progress": False, "seed": 0,
              "model": {"name": "hf", "path": str(make_tiny_model(folder / "model"))},
              "dataset": {"name": "local", "path": str(write_tiny_csv(folder / "data.csv")),
                          "task": "Classify the sentiment of the text."},
              "splits": {"test_size": 10}, "decoder": "perplexity",
              "trainers": [{"name": "sft", "max_steps": 1, "batch_size": 8}], "plugins": plugins}
    modules: set[str] = set()
    edges: set[tuple[str, str]] = set()
    writes: set[tuple[str, str]] = set()
    original = RunContext.__setattr__

    def record(self: object, name: str, value: object) -> None:
        caller = sys._getframe(1)
        if caller.f_code.co_name != "__init__":  # the dataclass's own __init__ makes the context
            writes.add((f"{_module(caller.f_code.co_filename)}:{caller.f_code.co_name}", name))
        original(self, name, value)

    def profile(frame, event, arg):  # noqa: ANN001, ANN202
        if event != "call":
            return
        callee = _module(frame.f_code.co_filename)
        if callee is None or frame.f_code.co_name == "<module>":  # running code, not importing it
            return
        modules.add(callee)
        back = frame.f_back
        caller = _module(back.f_code.co_filename) if back is not None else None
        if caller is not None and caller != callee:
            edges.add((f"{caller}:{back.f_code.co_name}", f"{callee}:{frame.f_code.co_name}"))

    RunContext.__setattr__ = record  # type: ignore[method-assign]
    engine = Engine(config)
    sys.setprofile(profile)
    try:
        engine.run()
    finally:
        sys.setprofile(None)
        RunContext.__setattr__ = original  # type: ignore[method-assign]
    entering = Counter(callee.split(":")[0] for _, callee in edges)
    print(f"modules visited: {len(modules)} (core {sum(m.startswith('gencls_core') for m in modules)}, "
          f"plugins {sum(m.startswith('gencls_plugins') for m in modules)})")
    print(f"distinct cross-module calls: {len(edges)}")
    print("entered most: " + ", ".join(f"{m} {n}" for m, n in entering.most_common(5)))
    print(f"RunContext attributes written after it is made: {len(writes)} (function, attribute)")
    by_module = Counter(w.split(":")[0] for w, _ in writes)
    print("  by module: " + ", ".join(f"{m} {n}" for m, n in by_module.most_common()))
    for where, name in sorted(writes):
        print(f"  {where} sets {name}")


if __name__ == "__main__":
    walk(sys.argv[1:])
