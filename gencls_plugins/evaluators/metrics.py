"""Label metrics. A prediction without a label (unparseable or abstained) is wrong for every class."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from gencls_core.interfaces import Evaluator, Options

NO_LABEL = "(none)"


def _predicted(predictions) -> list[str]:
    return [NO_LABEL if p.label is None else p.label for p in predictions]


class Accuracy(Evaluator):
    """Fraction of examples whose predicted label equals the gold label."""

    name = "accuracy"
    stage_metrics = ("accuracy",)

    def evaluate(self, gold, predictions, labels):
        return {"accuracy": sum(g == p.label for g, p in zip(gold, predictions)) / len(gold) if gold else 0.0}


class F1(Evaluator):
    """F1 averaged over the classes that occur in the gold labels or the predictions (scikit-learn's default):
    macro (equal weight) and weighted (by support)."""

    name = "f1"
    stage_metrics = ("f1_macro",)

    def evaluate(self, gold, predictions, labels):
        from sklearn.metrics import f1_score

        pred = _predicted(predictions)
        seen = {*gold, *pred}
        present = [label for label in labels if label in seen]
        return {avg_key: float(f1_score(gold, pred, labels=present, average=avg, zero_division=0))
                for avg_key, avg in (("f1_macro", "macro"), ("f1_weighted", "weighted"))}


class PerClass(Evaluator):
    """Precision, recall, F1 and support for each class."""

    name = "per-class"

    def evaluate(self, gold, predictions, labels):
        from sklearn.metrics import precision_recall_fscore_support

        p, r, f, s = precision_recall_fscore_support(gold, _predicted(predictions), labels=labels, zero_division=0)
        return {"per_class": {label: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                                      "support": int(s[i])} for i, label in enumerate(labels)}}

    def report(self, values, out_dir):
        rows = values["per_class"]
        lines = ["## Per class", "", "| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
        lines += [f"| {k} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {v['support']} |"
                  for k, v in rows.items()]
        return "\n".join(lines)


class Confusion(Evaluator):
    """Confusion matrix: rows are gold classes, columns predicted classes (plus "(none)" for no label)."""

    name = "confusion"

    def evaluate(self, gold, predictions, labels):
        from sklearn.metrics import confusion_matrix

        cols = [*labels, NO_LABEL]
        matrix = confusion_matrix(gold, _predicted(predictions), labels=cols)[:len(labels)]
        return {"confusion_matrix": {"gold": labels, "predicted": cols, "counts": matrix.tolist()}}

    def report(self, values, out_dir):
        cm = values["confusion_matrix"]
        labels = cm["gold"]
        cols = cm["predicted"] if any(row[-1] for row in cm["counts"]) else labels
        lines = ["## Confusion matrix", "", "rows: gold, columns: predicted", "",
                 "| gold \\ predicted | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
        lines += [f"| {g} | " + " | ".join(str(v) for v in row[:len(cols)]) + " |"
                  for g, row in zip(labels, cm["counts"])]
        _plot_confusion(cm["counts"], labels, cols, out_dir / "confusion_matrix.png")
        return "\n".join(lines) + "\n\n![confusion matrix](confusion_matrix.png)"


class Calibration(Evaluator):
    """Expected calibration error of the top label's probability, and a reliability diagram."""

    name = "calibration"

    class Config(Options):
        bins: int = Field(10, ge=1, description="equal-width confidence bins of the expected calibration error")

    def _bins(self, gold, predictions):
        rows = [(max(p.probs.values()), p.label == g) for g, p in zip(gold, predictions)]
        bins = []
        for b in range(self.config.bins):
            lo, hi = b / self.config.bins, (b + 1) / self.config.bins
            inside = [(c, ok) for c, ok in rows if lo < c <= hi or (b == 0 and c == 0)]
            if inside:
                bins.append({"low": lo, "high": hi, "count": len(inside),
                             "confidence": sum(c for c, _ in inside) / len(inside),
                             "accuracy": sum(ok for _, ok in inside) / len(inside)})
        return bins

    def evaluate(self, gold, predictions, labels):
        if not gold or any(p.probs is None for p in predictions):
            return {}  # the decoder gave no probabilities
        bins = self._bins(gold, predictions)
        ece = sum(b["count"] / len(gold) * abs(b["accuracy"] - b["confidence"]) for b in bins)
        return {"ece": ece, "calibration_bins": bins}

    def report(self, values, out_dir):
        if not values:
            return "## Calibration\n\nThe decoder gave no label probabilities."
        _plot_reliability(values["calibration_bins"], self.config.bins, out_dir / "reliability.png")
        return (f"## Calibration\n\nExpected calibration error ({self.config.bins} bins): {values['ece']:.4f}\n\n"
                "![reliability diagram](reliability.png)")


class Coverage(Evaluator):
    """Coverage (share of examples given a label) and accuracy on the covered examples."""

    name = "coverage"

    def evaluate(self, gold, predictions, labels):
        answered = [(g, p.label) for g, p in zip(gold, predictions) if p.label is not None]
        return {"coverage": len(answered) / len(gold) if gold else 0.0,
                "selective_accuracy": sum(g == p for g, p in answered) / len(answered) if answered else 0.0}


def _plot_confusion(counts, labels, cols, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    many = len(labels) > 12
    cell = max(0.25, 11 / len(labels)) if many else 0.9  # many classes: about 11 inches of cells at most
    room = 2.0 if many else 0.0  # for the tick labels
    fig, ax = plt.subplots(figsize=(1.2 + room + cell * len(cols), 1.0 + room + cell * len(labels)))
    data = [row[:len(cols)] for row in counts]
    ax.imshow(data, cmap="Blues")
    ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    top = max(max(r) for r in data) or 1
    for i, row in enumerate(data):
        for j, v in enumerate(row):
            if v:  # zeros left blank: the non-zero cells are the ones to read
                ax.text(j, i, str(v), ha="center", va="center", fontsize=6 if many else 10,
                        color="white" if v > top / 2 else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_reliability(bins, n_bins: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    ax.bar([b["low"] for b in bins], [b["accuracy"] for b in bins], width=1 / n_bins, align="edge",
           edgecolor="black", alpha=0.7, label="accuracy")
    ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], "o", color="darkred",
            label="mean confidence")
    for b in bins:  # how many predictions each bar rests on
        ax.text(b["low"] + 0.5 / n_bins, 0.02, f"n={b['count']}", ha="center", fontsize=7, rotation=90)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (top label probability)")
    ax.set_ylabel("accuracy")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
