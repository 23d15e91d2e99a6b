"""Discriminative baselines on a cell's own splits, fitted on its train split and predicting the split its runs
evaluate: TF-IDF + logistic regression (scikit-learn), and a LoRA sequence-classification head on the cell's
own LM (the discriminative counterpart GenCLS++ compares with)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gencls_core.results import read_jsonl, write_jsonl

ROWS = {"tfidf": "TF-IDF + logistic regression", "seqcls": "LoRA classification head on the LM"}
# the sequence-classification recipe: the example study's SFT recipe (LoRA r16 on attention, lr 2e-4, batch 8,
# one epoch), with the texts cut at MAX_TOKENS
SEQCLS = {"r": 16, "alpha": 32, "dropout": 0.05, "learning_rate": 2e-4, "batch_size": 8, "epochs": 1}
MAX_TOKENS = 384


def baseline_path(folder: Path, name: str, column: str, seed: Any) -> Path:
    """Where a study folder caches baseline ``name``'s predictions for one column and seed."""
    return folder / "baselines" / f"{name}.{column}.{seed}.jsonl"


def baseline_predictions(name: str, config: dict[str, Any], out: Path) -> list[dict[str, Any]]:
    """Baseline ``name`` fitted on the train split of ``config``'s data, its predictions for the evaluated split
    (rows as in a run's ``predictions.jsonl``), cached in ``out``."""
    if out.is_file():
        return read_jsonl(out)
    from gencls_core.engine import Engine

    engine = Engine({**config, "progress": False})
    rows = (_tfidf if name == "tfidf" else _seqcls)(engine)
    write_jsonl(out, rows)
    return rows


def _rows(evaluated: Any, predicted: list[str]) -> list[dict[str, Any]]:
    return [{"text": t, "gold": g, "predicted": str(p), "correct": g == p}
            for t, g, p in zip(evaluated["text"], evaluated["label"], predicted)]


def _tfidf(engine: Any) -> list[dict[str, Any]]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    splits = engine.dataset().splits
    evaluated = splits[engine.config.splits.evaluate]
    model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                          LogisticRegression(max_iter=2000, C=10.0))
    model.fit(splits["train"]["text"], splits["train"]["label"])
    return _rows(evaluated, list(model.predict(evaluated["text"])))


def _seqcls(engine: Any) -> list[dict[str, Any]]:
    """The cell's causal LM's body under a new linear head over the classes (the last token's state), LoRA on
    attention plus the head trained with transformers' Trainer; predictions are the head's argmax."""
    import tempfile

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification, Trainer, TrainingArguments, set_seed

    from gencls_core.devices import resolve_device

    set_seed(engine.config.seed)  # the new head's and the adapter's initialisation
    ctx = engine.loaded_context(resolve_device(engine.config.device), progress=False)
    data, tokenizer, causal = ctx.data, ctx.lm.tokenizer, ctx.lm.model
    classes = list(data.labels)
    config = causal.config.__class__.from_dict({**causal.config.to_dict(), "num_labels": len(classes),
                                                "pad_token_id": tokenizer.pad_token_id})
    model = AutoModelForSequenceClassification.from_config(config).to(causal.device, causal.dtype)
    body = {k: v for k, v in causal.state_dict().items() if not k.startswith("lm_head.")}
    missing, unexpected = model.load_state_dict(body, strict=False)
    if unexpected or any(not k.startswith("score.") for k in missing):
        raise ValueError(f"the sequence-classification baseline cannot reuse {type(causal).__name__}'s weights: "
                         f"missing {missing[:3]}, unexpected {unexpected[:3]}")
    model = get_peft_model(model, LoraConfig(task_type="SEQ_CLS", r=SEQCLS["r"], lora_alpha=SEQCLS["alpha"],
                                             lora_dropout=SEQCLS["dropout"],
                                             target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]))

    def encode(split: Any) -> list[dict[str, Any]]:
        ids = tokenizer(list(split["text"]), truncation=True, max_length=MAX_TOKENS)["input_ids"]
        return [{"input_ids": i, "labels": classes.index(label)} for i, label in zip(ids, split["label"])]

    def collate(rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = tokenizer.pad({"input_ids": [r["input_ids"] for r in rows]}, return_tensors="pt")
        return {**batch, "labels": torch.tensor([r["labels"] for r in rows])}

    with tempfile.TemporaryDirectory() as scratch:
        args = TrainingArguments(output_dir=scratch, learning_rate=SEQCLS["learning_rate"],
                                 per_device_train_batch_size=SEQCLS["batch_size"],
                                 num_train_epochs=SEQCLS["epochs"], seed=engine.config.seed, save_strategy="no",
                                 report_to=[], logging_strategy="no", disable_tqdm=True,
                                 remove_unused_columns=False, use_cpu=ctx.device == "cpu")
        Trainer(model=model, args=args, train_dataset=encode(data.splits["train"]), data_collator=collate).train()
    model.eval()
    evaluated = data.splits[engine.config.splits.evaluate]
    rows, predicted = encode(evaluated), []
    with torch.no_grad():
        for start in range(0, len(rows), 16):
            batch = {k: v.to(model.device) for k, v in collate(rows[start:start + 16]).items() if k != "labels"}
            predicted += [classes[i] for i in model(**batch).logits.argmax(-1).tolist()]
    return _rows(evaluated, predicted)
