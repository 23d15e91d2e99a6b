"""Metrics of label sets (multi-label data): micro-, macro- and example-based F1, subset accuracy, Hamming loss,
and precision, recall, F1 and support per label, with a bar chart. A prediction without a set (its answer named
no class) counts as the empty set."""

from __future__ import annotations

from pathlib import Path

from gencls_core.interfaces import Evaluator
from gencls_core.label_sets import indicator


class MultiLabel(Evaluator):
    """Label-set metrics: micro/macro/example F1, subset accuracy, Hamming loss, per-label scores."""

    name = "multi-label"
    multi_label = True
    stage_metrics = ("f1_micro", "f1_macro")

    def evaluate(self, gold, predictions, labels):
        from sklearn.metrics import accuracy_score, f1_score, hamming_loss, precision_recall_fscore_support

        y, p = indicator(gold, labels), indicator([q.labels for q in predictions], labels)
        out = {f"f1_{avg}": float(f1_score(y, p, average=avg, zero_division=0))
               for avg in ("micro", "macro", "samples")}
        out["f1_example"] = out.pop("f1_samples")
        out["subset_accuracy"] = float(accuracy_score(y, p))
        out["hamming_loss"] = float(hamming_loss(y, p))
        prec, rec, f1, support = precision_recall_fscore_support(y, p, zero_division=0)
        out["per_label"] = {c: {"precision": float(prec[i]), "recall": float(rec[i]), "f1": float(f1[i]),
                                "support": int(support[i]), "predicted": int(p[:, i].sum())}
                            for i, c in enumerate(labels)}
        return out

    def report(self, values, out_dir):
        rows = values["per_label"]
        lines = ["## Per label", "", "| label | precision | recall | F1 | support | predicted |",
                 "|---|---|---|---|---|---|"]
        lines += [f"| {k} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {v['support']} | "
                  f"{v['predicted']} |" for k, v in rows.items()]
        figure = _plot_per_label(rows, out_dir / "per_label.png")
        return "\n".join([*lines, "", f"![precision, recall and F1 per label]({figure.name})"])


def _plot_per_label(rows, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = list(rows)
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(5.0, 0.6 * len(names) + 2), 3.6))
    for k, key in enumerate(("precision", "recall", "f1")):
        ax.bar(x + (k - 1) * 0.27, [rows[n][key] for n in names], 0.27, label=key)
    ax.set_xticks(x, names, rotation=45 if len(names) > 6 else 0, ha="right" if len(names) > 6 else "center")
    ax.set_ylim(0, 1)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
