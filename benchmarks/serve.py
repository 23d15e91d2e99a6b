"""Throughput and latency of `gencls serve` with concurrent one-text requests: merged into shared decoder calls
(--max-batch 32) against one call per request (--max-batch 1).

    python benchmarks/serve.py --run runs/<run-dir> [--requests 128] [--concurrency 16]

Starts the server in a subprocess for each setting, waits for /health, sends the requests from a pool of
concurrent clients (Rotten Tomatoes test reviews), and prints texts/s and latency percentiles. Run it alone:
timings beside another job are void.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time


async def _load(url: str, texts: list[str], concurrency: int) -> tuple[float, list[float]]:
    import httpx

    latencies: list[float] = []
    queue = list(texts)

    async def client(http):
        while queue:
            text = queue.pop()
            started = time.perf_counter()
            response = await http.post(f"{url}/predict", json={"texts": [text]})
            response.raise_for_status()
            latencies.append(time.perf_counter() - started)

    async with httpx.AsyncClient(timeout=600) as http:
        started = time.perf_counter()
        await asyncio.gather(*[client(http) for _ in range(concurrency)])
        return time.perf_counter() - started, latencies


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
    parser.add_argument("--requests", type=int, default=128)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    from gencls_core import Engine

    texts = list(Engine({"splits": {"test_size": args.requests}, "progress": False}).dataset().splits["test"]["text"])
    url = f"http://127.0.0.1:{args.port}"
    print(f"{args.requests} one-text requests from {args.concurrency} concurrent clients, run {args.run}")
    print("| max_batch | texts/s | latency p50 s | latency p95 s | decoder calls |")
    print("|---|---|---|---|---|")
    for max_batch in (1, 32):
        proc = _serve(args.run, args.port, max_batch)
        try:
            _wait(url, proc)
            asyncio.run(_load(url, texts[:args.concurrency], args.concurrency))  # warm-up
            import httpx

            before = httpx.get(f"{url}/health").json()["decoder_calls"]
            seconds, latencies = asyncio.run(_load(url, texts, args.concurrency))
            calls = httpx.get(f"{url}/health").json()["decoder_calls"] - before
        finally:
            proc.terminate()
            proc.wait()
        cuts = statistics.quantiles(latencies, n=20)
        print(f"| {max_batch} | {len(texts) / seconds:.1f} | {statistics.median(latencies):.2f} | {cuts[18]:.2f} "
              f"| {calls} |")


if __name__ == "__main__":
    main()
