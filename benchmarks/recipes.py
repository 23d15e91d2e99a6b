"""Which training recipe gives the best classifier without expert tuning? (issue 33)

    python benchmarks/recipes.py run [--corpus drug-reviews] [--seeds 0] [--methods sft,sft-chosen]
    python benchmarks/recipes.py table [--plot docs/img/recipes.png]

Methods, on the same seeded splits of each corpus (train / validation / test):
- ``tfidf-lr``: TF-IDF (word 1-2 grams) + logistic regression, C chosen on the validation split;
  ``tfidf-lr@prompt``: the same reading only what the generative runs' prompts keep of each text (every split;
  the corpora with a prompt budget): the bag of words at the LM's reading budget;
- ``lora-head``: a LoRA sequence-classification head on the same LM (r16 on attention, up to three epochs at
  lr 1e-3, macro-F1 on validation four times an epoch, patience 3, the best checkpoint kept), reading as much
  of a text as the generative runs' prompts keep (131 tokens of a BBC article, 133 of a drug review, under
  their 192-token prompt budget);
- ``sft``: today's naive SFT stage (``{name: sft}``: LoRA r16, one epoch, lr 2e-4), the last weights;
- ``sft-chosen``: SFT for up to three epochs at lr 1e-3 with balanced class weights, evaluated on the
  validation split every ``eval_steps`` with the run's decoder, ending with the best checkpoint by macro-F1
  and stopping after three evaluations without improvement (``best_metric``, ``patience``, ``class_weights``);
- ``auto``: the built-in recipe without its lexical step (``recipe: {name: auto, lexical: false}``): SFT chosen
  on validation as above (class weights only on imbalanced data), then label-pg kept only when its validation
  macro-F1 gain is above zero beyond noise, then decoder offsets toward the training label distribution when
  they raise validation accuracy plus macro-F1;
- ``auto+lexical``: the built-in recipe as shipped (``recipe: auto``): ``auto``, then TF-IDF + logistic
  regression's label probabilities blended into the kept model's scores at the weight chosen on validation, when
  the cross-fitted validation accuracy plus macro-F1 rises.

Every cell is one normal run (its directory under ``runs/recipes/``) that reads the test split once, for the final
evaluation; nothing is chosen on it. A finished cell appends one compact record (metrics, the per-example
predictions as class indices, the stage summary, wall time) to ``benchmarks/results/recipes.jsonl`` and is skipped
afterwards, so the benchmark spans sittings (a cell interrupted in one sitting continues from its run directory in
the next; a run's seconds are its ``run.json`` total over its attempts). One heavy job at a time: a timing taken
beside another job is void. ``table`` prints accuracy and macro-F1 (mean ± sd over seeds; macro-F1 over the classes
in the test split), the paired bootstrap 95% interval of each method minus ``tfidf-lr``, ``lora-head`` and ``sft``
(the same resampled test examples for every seed, differences averaged over seeds) and the classes with 5+ test
examples predicted less than a tenth as often (benchmarks/cells.py).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from cells import Record, encode, engine_for, kept_texts, main

RECORDS = Path("benchmarks/results/recipes.jsonl")
ROOT = Path("runs/recipes")
SPLITS = {"train_size": 500, "validation_size": 100, "test_size": 500}
CORPORA: dict[str, dict[str, Any]] = {
    "drug-reviews": {"dataset": "drug-reviews", "truncation": {"max_prompt_tokens": 192},
                     "splits": {**SPLITS, "test_size": 379}},
    "rotten-tomatoes": {"dataset": "movie-reviews", "splits": SPLITS},
    "bbc-news": {"dataset": "bbc-news", "truncation": {"max_prompt_tokens": 192}, "splits": SPLITS},
    "trec-fine": {"dataset": "trec-questions", "splits": SPLITS},
}
# the LoRA classification head (gencls_core.study.baselines): the LoRA shape of the sft trainer, trained like
# sft-chosen (up to three epochs at lr 1e-3, macro-F1 on validation four times an epoch, patience 3, best kept)
LORA_HEAD = {"r": 16, "alpha": 32, "dropout": 0.05, "learning_rate": 1e-3, "batch_size": 8, "epochs": 3,
             "patience": 3, "evaluations_per_epoch": 4}
TRAINERS: dict[str, list[dict[str, Any]]] = {
    "sft": [{"name": "sft"}],
    "sft-chosen": [{"name": "sft", "epochs": 3, "learning_rate": 1e-3, "class_weights": "balanced",
                    "best_metric": "f1_macro", "patience": 3, "eval_steps": 16}],
}
RECIPES: dict[str, dict[str, Any]] = {"auto": {"name": "auto", "lexical": False}, "auto+lexical": {"name": "auto"}}
METHODS = ("tfidf-lr", "tfidf-lr@prompt", "lora-head", *TRAINERS, *RECIPES)


def _config(corpus: str, seed: int, method: str) -> dict[str, Any]:
    stages = {"recipe": RECIPES[method]} if method in RECIPES else {"trainers": TRAINERS.get(method, [])}
    return {**CORPORA[corpus], "seed": seed, "progress": False, "output_dir": str(ROOT / corpus),
            "run_name": f"{method}-s{seed}", **stages}


def _tfidf(corpus: str, seed: int, kept: bool) -> tuple[dict[str, Any], list[str], list[str]]:
    """TF-IDF + logistic regression on the run's splits, C chosen on validation macro-F1 (gencls_core.baseline,
    which every recipe run reports beside its model); ``kept``: on what the prompts keep of each text."""
    from gencls_core import Engine
    from gencls_core.baseline import tfidf_predictions

    engine = Engine(_config(corpus, seed, "tfidf-lr"))
    data = kept_texts(engine, engine.dataset()) if kept else engine.dataset()
    predicted, chosen = tfidf_predictions(data)
    return chosen, list(data.splits["test"]["label"]), predicted


def _lora_head(corpus: str, seed: int) -> tuple[dict[str, Any], list[str], list[str]]:
    """The LoRA classification head on the same LM and splits, with its own early stopping on validation."""
    from gencls_core.study.baselines import baseline_predictions, text_budget

    out = ROOT / corpus / f"lora-head-s{seed}.jsonl"
    config = _config(corpus, seed, "lora-head")
    rows = baseline_predictions("seqcls", config, out, {**LORA_HEAD, **text_budget(config)})
    trained = json.loads(out.with_suffix(".train.json").read_text())
    summary = {"train_steps": trained["steps"], "train_best_step": trained.get("best_step"),
               "train_stopped": trained["stopped"]}
    return summary, [r["gold"] for r in rows], [r["predicted"] for r in rows]


def run_cell(corpus: str, seed: int, method: str) -> Record:
    from gencls_core import Engine

    started = time.time()
    if method in ("tfidf-lr", "tfidf-lr@prompt", "lora-head"):
        summary, gold, predicted = (_lora_head(corpus, seed) if method == "lora-head"
                                    else _tfidf(corpus, seed, kept=method == "tfidf-lr@prompt"))
        labels = list(Engine(_config(corpus, seed, method)).dataset().labels)
    else:
        result = engine_for(_config(corpus, seed, method)).run()
        gold = [r["gold"] for r in result.predictions]
        predicted = [r["predicted"] for r in result.predictions]
        record = json.loads((result.run_dir / "run.json").read_text())
        labels = record["data"]["labels"]
        summary = {k: v for k, v in result.stages[0].items() if k.startswith("train_")} if result.stages else {}
        if record.get("recipe"):
            summary["kept"] = [c["trainer"] for c in record["recipe"]["choices"] if c["kept"]]
            summary["offsets"] = bool(record["recipe"].get("decoder", {}).get("options"))
            if record["recipe"].get("lexical"):
                summary["lexical_weight"] = record["recipe"]["lexical"]["weight"]
            if result.metrics.get("lexical"):  # the kept model alone, before the bag of words
                summary["model_accuracy"] = result.metrics["lexical"]["model_accuracy"]
        return encode(corpus, seed, method, labels, gold, predicted, summary, record["timings"]["total"])
    return encode(corpus, seed, method, labels, gold, predicted, summary, time.time() - started)


if __name__ == "__main__":
    main(__doc__, RECORDS, list(CORPORA), METHODS, ("tfidf-lr", "lora-head", "sft"), run_cell)
