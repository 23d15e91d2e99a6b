"""Discriminative baselines on a cell's own splits, fitted on its train split and predicting the split its runs
evaluate: TF-IDF + logistic regression (scikit-learn), and a LoRA sequence-classification head on the cell's
own LM (the discriminative counterpart GenCLS++ compares with)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gencls_core.errors import ConfigError
from gencls_core.results import read_jsonl, write_jsonl, write_text_atomic
from gencls_core.verbosity import library_notices_off

ROWS = {"tfidf": "TF-IDF + logistic regression", "seqcls": "LoRA classification head on the LM"}
TFIDF_C = 10.0  # the study's fixed regularisation (a run's own baseline chooses C on validation)
TFIDF = {"ngram_range": [1, 2], "sublinear_tf": True, "C": TFIDF_C}
# the sequence-classification recipe where the study has no SFT stage to copy (LoRA r16 on attention, lr 2e-4,
# batch 8, one epoch: the sft trainer's defaults); texts are cut at ``max_tokens``, or, where the run cuts its
# prompts (``max_prompt_tokens``: truncation.max_prompt_tokens), at what its inference prompt keeps of a text, so
# the head reads as much of a text as the generative model
SEQCLS = {"r": 16, "alpha": 32, "dropout": 0.05, "learning_rate": 2e-4, "batch_size": 8, "epochs": 1.0,
          "max_tokens": 384}
DATA_KEYS = ("model", "dataset", "splits", "seed")  # the run config keys a baseline's fit depends on, with its recipe


def baseline_path(folder: Path, name: str, column: str, seed: Any) -> Path:
    """Where a study folder caches baseline ``name``'s predictions for one column and seed."""
    return folder / "baselines" / f"{name}.{column}.{seed}.jsonl"


def baseline_recipe(name: str, head: dict[str, Any], resolved: dict[str, Any]) -> dict[str, Any]:
    """What baseline ``name`` is fitted with. ``tfidf``'s is fixed; ``seqcls`` trains as ``head`` says (the first
    training stage's ``head_recipe`` in the study's baseline row, so the head trains like the stage it is compared
    with), SEQCLS for the rest, reading a text up to the prompt budget of ``resolved`` (a resolved run config)."""
    if name == "tfidf":
        return dict(TFIDF)
    return {**SEQCLS, **{k: v for k, v in head.items() if k in SEQCLS}, **text_budget(resolved)}


def text_budget(config: dict[str, Any]) -> dict[str, int]:
    """``{"max_prompt_tokens": N}`` when ``config`` cuts prompts at N tokens (truncation.max_prompt_tokens): the
    head then reads what such a prompt keeps of a text; else {}."""
    budget = (config.get("truncation") or {}).get("max_prompt_tokens")
    return {"max_prompt_tokens": int(budget)} if budget else {}


def baseline_predictions(name: str, config: dict[str, Any], out: Path, recipe: dict[str, Any]) -> list[dict[str, Any]]:
    """Baseline ``name`` fitted with ``recipe`` (see ``baseline_recipe``) on the train split of ``config``'s
    data, its predictions for the evaluated split (rows as in a run's ``predictions.jsonl``), cached in ``out``
    beside what it was fitted with (``<out>.fit.json``) and, for ``seqcls``, how its training went
    (``<out>.train.json``: steps, the chosen step, why it stopped, the tokens of a text it read); a cache fitted
    with another recipe or data is an error."""
    fit = json.loads(json.dumps({"recipe": recipe, **{k: config.get(k) for k in DATA_KEYS}}, sort_keys=True))
    stamp = out.with_suffix(".fit.json")
    if out.is_file():
        fitted = json.loads(stamp.read_text()) if stamp.is_file() else {}
        if fitted != fit:
            differ = sorted(k for k in fit if fitted.get(k) != fit[k])
            raise ConfigError(f"{out} was fitted otherwise ({', '.join(differ)} differ from what the study now "
                              f"gives it): delete it to fit the baseline again")
        return read_jsonl(out)
    from gencls_core.engine import Engine

    engine = Engine({**config, "progress": False})
    with library_notices_off():
        rows, trained = (_tfidf(engine), {}) if name == "tfidf" else _seqcls(engine, recipe)
    write_text_atomic(stamp, json.dumps(fit, sort_keys=True) + "\n")
    if trained:
        write_text_atomic(out.with_suffix(".train.json"), json.dumps(trained) + "\n")
    write_jsonl(out, rows)
    return rows


def _rows(evaluated: Any, predicted: list[str]) -> list[dict[str, Any]]:
    return [{"text": t, "gold": g, "predicted": str(p), "correct": g == p}
            for t, g, p in zip(evaluated["text"], evaluated["label"], predicted)]


def _tfidf(engine: Any) -> list[dict[str, Any]]:
    from gencls_core.baseline import tfidf_predictions

    data, split = engine.dataset(), engine.config.splits.evaluate  # TFIDF stamps what tfidf_predictions fits
    return _rows(data.splits[split], tfidf_predictions(data, split, c=TFIDF_C)[0])


def _seqcls(engine: Any, recipe: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The cell's causal LM's body under a new linear head over the classes (the last token's state), LoRA on
    attention plus the head trained with transformers' Trainer; predictions are the head's argmax, with a summary
    of the training. A recipe with
    ``patience`` evaluates macro-F1 on the validation split ``evaluations_per_epoch`` times an epoch, stops after
    ``patience`` evaluations without a gain and ends with the best checkpoint (``load_best_model_at_end``)."""
    import math
    import tempfile

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import (
        AutoModelForSequenceClassification,
        EarlyStoppingCallback,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    from gencls_core.devices import resolve_device
    from gencls_core.inference import Inference

    set_seed(engine.config.seed)  # the new head's and the adapter's initialisation
    ctx = engine.loaded_context(resolve_device(engine.config.device), progress=False)
    data, tokenizer, causal = ctx.data, ctx.lm.tokenizer, ctx.lm.model
    classes = list(data.labels)
    config = causal.config.__class__.from_dict({**causal.config.to_dict(), "num_labels": len(classes),
                                                "id2label": dict(enumerate(classes)),
                                                "label2id": {c: i for i, c in enumerate(classes)},
                                                "pad_token_id": tokenizer.pad_token_id})
    model = AutoModelForSequenceClassification.from_config(config).to(causal.device, causal.dtype)
    body = {k: v for k, v in causal.state_dict().items() if not k.startswith("lm_head.")}
    missing, unexpected = model.load_state_dict(body, strict=False)
    if unexpected or any(not k.startswith("score.") for k in missing):
        raise ValueError(f"the sequence-classification baseline cannot reuse {type(causal).__name__}'s weights: "
                         f"missing {missing[:3]}, unexpected {unexpected[:3]}")
    model = get_peft_model(model, LoraConfig(task_type="SEQ_CLS", r=recipe["r"], lora_alpha=recipe["alpha"],
                                             lora_dropout=recipe["dropout"],
                                             target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]))

    budget = recipe.get("max_tokens", SEQCLS["max_tokens"])
    if recipe.get("max_prompt_tokens"):
        budget = Inference(engine.resolution, ctx).text_tokens(recipe["max_prompt_tokens"])

    def encode(split: Any) -> list[dict[str, Any]]:
        ids = tokenizer(list(split["text"]), truncation=True, max_length=budget)["input_ids"]
        return [{"input_ids": i, "labels": classes.index(label)} for i, label in zip(ids, split["label"])]

    def collate(rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = tokenizer.pad({"input_ids": [r["input_ids"] for r in rows]}, return_tensors="pt")
        return {**batch, "labels": torch.tensor([r["labels"] for r in rows])}

    train = encode(data.splits["train"])
    chosen: dict[str, Any] = {"save_strategy": "no"}
    callbacks: list[Any] = []
    validation, metrics = None, None
    if recipe.get("patience"):
        if "validation" not in data.splits:
            raise ConfigError("the sequence-classification baseline with patience needs a validation split "
                              "(splits.validation_size)")
        every = max(1, math.ceil(len(train) / recipe["batch_size"] / recipe.get("evaluations_per_epoch", 4)))
        chosen = {"eval_strategy": "steps", "eval_steps": every, "save_strategy": "steps", "save_steps": every,
                  "load_best_model_at_end": True, "metric_for_best_model": "f1_macro", "greater_is_better": True,
                  "save_total_limit": 2, "per_device_eval_batch_size": 16}
        callbacks = [EarlyStoppingCallback(early_stopping_patience=recipe["patience"])]
        validation = encode(data.splits["validation"])

        def metrics(prediction: Any) -> dict[str, float]:
            from sklearn.metrics import f1_score

            logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
            return {"f1_macro": float(f1_score(prediction.label_ids, logits.argmax(-1), average="macro",
                                               zero_division=0))}

    with tempfile.TemporaryDirectory() as scratch:
        args = TrainingArguments(output_dir=scratch, learning_rate=recipe["learning_rate"],
                                 per_device_train_batch_size=recipe["batch_size"],
                                 num_train_epochs=recipe["epochs"], seed=engine.config.seed, report_to=[],
                                 logging_strategy="no", disable_tqdm=True, remove_unused_columns=False,
                                 use_cpu=ctx.device == "cpu", **chosen)
        trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=validation,
                          data_collator=collate, compute_metrics=metrics, callbacks=callbacks)
        trainer.train()
    state = trainer.state
    stopped = "max_steps" if state.global_step >= state.max_steps else "early_stopping"
    trained: dict[str, Any] = {"steps": state.global_step, "stopped": stopped, "text_tokens": budget}
    if state.best_model_checkpoint:
        trained.update(best_step=int(state.best_model_checkpoint.rsplit("-", 1)[1]), best_f1_macro=state.best_metric)
    model.eval()
    evaluated = data.splits[engine.config.splits.evaluate]
    rows, predicted = encode(evaluated), []
    with torch.no_grad():
        for start in range(0, len(rows), 16):
            batch = {k: v.to(model.device) for k, v in collate(rows[start:start + 16]).items() if k != "labels"}
            predicted += [classes[i] for i in model(**batch).logits.argmax(-1).tolist()]
    return _rows(evaluated, predicted), trained
