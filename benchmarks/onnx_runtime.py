"""What ONNX Runtime (float32, and its dynamic int8 quantization) buys over torch on CPU (prints its figures;
issue 39). Needs ``pip install onnx onnxscript onnxruntime`` (not project dependencies).

    python benchmarks/onnx_runtime.py RUN_DIR [--n 200] [--batch-size 8]

A finished run's merged model (as ``predict`` loads it) scores every label answer after each of the first ``--n``
test prompts, one forward pass per (prompt, label) pair, the log-probabilities of the answer tokens only: the same
computation in torch, in ONNX Runtime on the exported graph, and in ONNX Runtime after
``onnxruntime.quantization.quantize_dynamic`` (int8 weights per channel, activations quantized per batch to
uint8): signed weights, signed with ``reduce_range`` (7-bit, ONNX Runtime's advice on x86 CPUs without VNNI,
where uint8 x int8 products can saturate), or unsigned weights. The
predicted label is the answer with the highest log-likelihood. Each row: texts/s, accuracy, its difference from
torch with the paired bootstrap 95% interval, and the share of labels unchanged; the run's own decoder (prompt
cache, shared prefix) gives the reference line. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from gencls_core import Engine
from gencls_core.answers import answer_token_ids
from gencls_core.stats import paired_gain


class AnswerLogProbs(torch.nn.Module):
    """Left-padded ``prompt + answer`` rows -> log-probabilities of their last ``span`` tokens."""

    def __init__(self, model: torch.nn.Module, span: int) -> None:
        super().__init__()
        self.model, self.span = model, span

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        hidden = self.model.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions,
                                  use_cache=False).last_hidden_state
        logits = self.model.lm_head(hidden[:, -self.span - 1:-1]).float()
        return torch.log_softmax(logits, -1).gather(-1, input_ids[:, -self.span:, None]).squeeze(-1)


def batches(prompt_ids: list[list[int]], answers: list[list[int]], size: int, pad: int):
    """(prompt index, label index) pairs in left-padded batches of ``size`` rows: (pairs, ids, mask)."""
    pairs = sorted(((i, k) for i in range(len(prompt_ids)) for k in range(len(answers))),
                   key=lambda p: len(prompt_ids[p[0]]))
    for start in range(0, len(pairs), size):
        chunk = pairs[start:start + size]
        rows = [prompt_ids[i] + answers[k] for i, k in chunk]
        width = max(map(len, rows))
        ids = np.full((len(rows), width), pad, dtype=np.int64)
        mask = np.zeros_like(ids)
        for r, row in enumerate(rows):
            ids[r, width - len(row):], mask[r, width - len(row):] = row, 1
        yield chunk, ids, mask


def predicted(run, prompt_ids, answers, size: int, pad: int) -> tuple[np.ndarray, float]:
    """Label index per prompt (the best answer log-likelihood) and texts/s; ``run(ids, mask)`` -> log-probs."""
    scores = np.zeros((len(prompt_ids), len(answers)))
    started = time.perf_counter()
    for chunk, ids, mask in batches(prompt_ids, answers, size, pad):
        logp = run(ids, mask)
        for r, (i, k) in enumerate(chunk):
            scores[i, k] = logp[r, -len(answers[k]):].sum()
    return scores.argmax(1), len(prompt_ids) / (time.perf_counter() - started)


def session(path: Path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    sess = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda ids, mask: sess.run(None, {"input_ids": ids, "attention_mask": mask})[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=8, help="(prompt, label) rows per forward pass")
    args = parser.parse_args()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    warnings.simplefilter("ignore")
    torch.manual_seed(0)
    predictor = Engine.from_run_dir(args.run_dir, overrides=["progress=false"]).predictor()
    inference = predictor.inference
    test = Engine.from_run_dir(args.run_dir).dataset().splits["test"]
    texts, gold = list(test["text"])[:args.n], list(test["label"])[:args.n]
    classes = inference.labels.labels
    lm = inference.ctx.loaded_lm()
    tok, model = lm.tokenizer, lm.model.float().eval()
    render, _ = inference.renderer()
    prompt_ids = tok([render(t) for t in texts], add_special_tokens=False)["input_ids"]
    answers = answer_token_ids(tok, inference.labels, end_of_answer=False)
    wrapper = AnswerLogProbs(model, max(map(len, answers)))
    g = np.array([classes.index(label) for label in gold])
    threads = torch.get_num_threads()

    predictor(texts[:8])
    started = time.perf_counter()
    own = [p.label for p in predictor(texts)]
    own_rate = len(texts) / (time.perf_counter() - started)

    def in_torch(ids, mask):
        with torch.inference_mode():
            return wrapper(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        fp32 = Path(folder) / "model.onnx"
        _, ids, mask = next(batches(prompt_ids[:2], answers, args.batch_size, tok.pad_token_id))
        torch.onnx.export(wrapper, (torch.from_numpy(ids), torch.from_numpy(mask)), str(fp32),
                          input_names=["input_ids", "attention_mask"], output_names=["logp"],
                          dynamic_shapes={"input_ids": {0: torch.export.Dim("rows"), 1: torch.export.Dim("width")},
                                          "attention_mask": {0: torch.export.Dim("rows"),
                                                             1: torch.export.Dim("width")}},
                          dynamo=True, external_data=True)
        runs = {"torch float32": in_torch, "ONNX Runtime float32": session(fp32, threads)}
        for name, weights, reduce in (("s8", QuantType.QInt8, False), ("s8, reduce_range", QuantType.QInt8, True),
                                      ("u8", QuantType.QUInt8, False)):
            path = Path(folder) / f"model.{len(runs)}.onnx"
            quantize_dynamic(str(fp32), str(path), weight_type=weights, per_channel=True, reduce_range=reduce,
                             use_external_data_format=True)
            runs[f"ONNX Runtime int8 ({name} weights)"] = session(path, threads)
        for name, run in runs.items():
            predicted(run, prompt_ids[:4], answers, args.batch_size, tok.pad_token_id)  # warm
            rows.append((name, *predicted(run, prompt_ids, answers, args.batch_size, tok.pad_token_id)))
    print(f"{args.run_dir}: {len(texts)} test texts, {len(classes)} labels, batch {args.batch_size} rows, "
          f"{threads} threads, torch {torch.__version__}")
    print(f"the run's own decoder: {own_rate:.1f} texts/s, accuracy {np.mean([a == b for a, b in zip(own, gold)]):.3f}")
    print("| runtime | texts/s | vs torch | accuracy | Δ vs torch | same label |")
    print("|---|---|---|---|---|---|")
    base, base_rate = rows[0][1], rows[0][2]
    for name, labels, rate in rows:
        delta, low, high = paired_gain(g, base, labels, len(classes), "accuracy")
        print(f"| {name} | {rate:.1f} | {rate / base_rate:.2f}x | {(labels == g).mean():.3f} | "
              f"{100 * delta:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}] | {(labels == base).mean():.3f} |")


if __name__ == "__main__":
    main()
