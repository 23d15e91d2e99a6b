"""Throughput and latency of `gencls serve` on loopback: one-text requests from 1, 8, 32 and 128 concurrent
clients (--clients), merged into shared decoder calls (--max-batch 32) against one call per request (--max-batch 1).

    python benchmarks/serve.py --run runs/<run-dir> [--requests 128] [--clients 1,8,32,128]

Starts the server in a subprocess per setting, waits for /health, sends the requests (Rotten Tomatoes test
reviews) and prints requests/s, latency percentiles and the batching gain, then the rate at 32 clients against
the same texts decoded offline by the same model and decoder: in calls of 32 texts (the server's max_batch, the
issue's reference) and in one call over all of them (a ceiling no server of 32-text calls reaches: the decoder
sorts a call's prompts by length, so one large call pads less).
Bounded: --requests per row, and each row stops at --seconds. Run it alone: timings beside another job are void.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time


async def _load(url: str, texts: list[str], clients: int, limit: float) -> tuple[float, list[float]]:
    """Send every text as its own request from ``clients`` concurrent clients (stopping at ``limit`` seconds);
    the elapsed time and each request's latency."""
    import httpx

    latencies: list[float] = []
    queue = list(texts)
    started = time.perf_counter()

    async def client(http):
        while queue and time.perf_counter() - started < limit:
            text = queue.pop()
            sent = time.perf_counter()
            response = await http.post(f"{url}/classify", json={"texts": [text]})
            response.raise_for_status()
            latencies.append(time.perf_counter() - sent)

    async with httpx.AsyncClient(timeout=600) as http:
        await asyncio.gather(*[client(http) for _ in range(clients)])
    return time.perf_counter() - started, latencies


def _offline_rates(run: str, texts: list[str], batch: int) -> tuple[float, float]:
    """Texts/s of the run's predictor decoding ``texts`` in calls of ``batch`` texts and in one call (warm), in
    this process, before any server."""
    from pathlib import Path

    from gencls_core import Engine

    engine = Engine.from_pretrained(run) if (Path(run) / "gencls.json").is_file() else Engine.from_run_dir(run)
    predictor = engine.predictor()
    predictor(texts[:8])
    started = time.perf_counter()
    for i in range(0, len(texts), batch):
        predictor(texts[i:i + batch])
    batched = len(texts) / (time.perf_counter() - started)
    started = time.perf_counter()
    predictor(texts)
    return batched, len(texts) / (time.perf_counter() - started)


def _serve(run: str, port: int, max_batch: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gencls_core", "serve", run, "--port", str(port),
                             "--max-batch", str(max_batch)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait(url: str, proc: subprocess.Popen) -> None:
    import httpx

    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise SystemExit("the server did not come up in 5 minutes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="a finished run directory or export folder")
    parser.add_argument("--requests", type=int, default=128, help="requests per row")
    parser.add_argument("--seconds", type=float, default=300, help="time limit per row")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--clients", default="1,8,32,128", help="concurrent clients per row (must include 32)")
    args = parser.parse_args()
    counts = [int(c) for c in args.clients.split(",")]
    if 32 not in counts:
        parser.error("--clients must include 32 (the rate compared with offline decoding)")
    import httpx
    import numpy as np

    from gencls_core import Engine

    texts = list(Engine({"splits": {"test_size": args.requests}, "progress": False}).dataset().splits["test"]["text"])
    batched, offline = _offline_rates(args.run, texts, 32)
    url = f"http://127.0.0.1:{args.port}"
    print(f"up to {args.requests} one-text requests per row ({args.seconds:.0f} s at most), run {args.run}\n")
    print("| max_batch | clients | requests/s | p50 s | p95 s | p99 s | decoder calls | gain over max_batch 1 |")
    print("|---|---|---|---|---|---|---|---|")
    rates: dict[int, float] = {}  # clients -> requests/s with max_batch 1
    measured: dict[tuple[int, int], float] = {}  # (max_batch, clients) -> requests/s
    for max_batch in (1, 32):
        proc = _serve(args.run, args.port, max_batch)
        try:
            _wait(url, proc)
            asyncio.run(_load(url, texts[:8], 8, args.seconds))  # warm-up
            for clients in counts:
                before = httpx.get(f"{url}/health").json()["decoder_calls"]
                seconds, latencies = asyncio.run(_load(url, texts, clients, args.seconds))
                calls = httpx.get(f"{url}/health").json()["decoder_calls"] - before
                rate = measured[max_batch, clients] = len(latencies) / seconds
                gain = f"{rate / rates[clients]:.2f}x" if max_batch > 1 else ""
                rates.setdefault(clients, rate)
                p50, p95, p99 = (float(v) for v in np.percentile(latencies, [50, 95, 99]))
                print(f"| {max_batch} | {clients} | {rate:.1f} | {p50:.2f} | {p95:.2f} | {p99:.2f} | {calls} "
                      f"| {gain} |", flush=True)
        finally:
            proc.terminate()
            proc.wait()
    served = measured[(32, 32)]
    print(f"\nserving at 32 clients (max_batch 32): {served:.1f} requests/s; the same {len(texts)} texts offline in "
          f"calls of 32: {batched:.1f} texts/s (serving = {served / batched:.0%} of it), in one call: {offline:.1f} "
          f"texts/s ({served / offline:.0%})")


if __name__ == "__main__":
    main()
