"""The Engine API end to end on a tiny model and dataset."""

import json
from pathlib import Path

import pytest

from gencls_core import Decoder, Engine, LoadedModel, Prediction, StageResult, Trainer, hookimpl
from gencls_core.errors import ConfigError, ContractError, UsageError
from gencls_core.plugins import load_plugins
from gencls_core.registry import PluginInfo


def _read(path):
    return json.loads(path.read_text())


def test_run_writes_results_and_returns_metrics(tiny_run_config):
    result = Engine(tiny_run_config).run()
    run_dir = result.run_dir
    record, metrics = _read(run_dir / "run.json"), _read(run_dir / "metrics.json")
    rows = [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]
    assert record["status"] == "done" and record["seed"] == 0
    assert record["data"]["sizes"] == {"test": 10, "train": 30}
    assert {c["slot"]: (c["name"], c["plugin"], c["distribution"]) for c in record["components"]}["decoder"] == \
        ("perplexity", "decoders", "gencls")
    assert record["config"]["decoder"] == {"name": "perplexity", "batch_size": 8, "normalize": "sum",
                                           "calibrate": "auto", "bias": None, "content_free": ["N/A", "", "[MASK]"],
                                           "domain_samples": 20, "domain_length": None, "fit_on": "inputs",
                                           "fit_size": 200, "end_of_answer": True, "method": "cached",
                                           "shared_prefix": True}
    assert metrics == result.metrics
    assert metrics["n"] == 10 and metrics["unparseable"] == 0
    assert metrics["accuracy"] == sum(r["correct"] for r in rows) / 10
    assert 0 <= metrics["f1_macro"] <= 1
    assert len(rows) == 10 and set(rows[0]["scores"]) == {"negative", "positive"}
    assert {"f1_weighted", "per_class", "confusion_matrix", "ece", "coverage"} <= set(metrics)
    report = (run_dir / "report.md").read_text()
    assert "| accuracy |" in report and "## Per class" in report
    # a zero-shot run too is scored beside TF-IDF + LR fitted on its training split (C 10: no validation split)
    assert metrics["baseline"]["name"] == "TF-IDF + logistic regression" and metrics["baseline"]["C"] == 10.0
    assert "(C 10, not chosen on validation)" in report
    for png in ("confusion_matrix.png", "reliability.png"):
        assert f"]({png})" in report and (run_dir / png).is_file()
    assert not list(run_dir.glob(".*tmp"))


def test_same_seed_same_predictions(tiny_run_config):
    a = Engine(tiny_run_config).run()
    b = Engine(tiny_run_config).run()
    assert a.run_dir != b.run_dir
    assert [r["text"] for r in a.predictions] == [r["text"] for r in b.predictions]
    assert [r["scores"] for r in a.predictions] == [r["scores"] for r in b.predictions]


def test_generate_decoder_counts_unparseable(tiny_run_config):
    tiny_run_config["decoder"] = {"name": "generate", "max_new_tokens": 2}
    result = Engine(tiny_run_config).run()
    unparseable = sum(r["predicted"] is None for r in result.predictions)
    assert result.metrics["unparseable"] == unparseable
    assert all(isinstance(r["output"], str) for r in result.predictions)


def test_predict_from_a_finished_run_dir(tiny_run_config):
    result = Engine(tiny_run_config).run()
    engine = Engine.from_run_dir(result.run_dir)
    preds = engine.predict(["the film was good", "awful plot"])
    assert [type(p) for p in preds] == [Prediction, Prediction]
    first = result.predictions[0]
    again = engine.predict([first["text"]])[0]
    assert again.scores == pytest.approx(first["scores"], abs=1e-5)


class _ToyStage(Trainer):
    """Toy stage: returns a copy of the model with its LM head scaled, and reports what it saw."""

    name = "toy-stage"

    def train(self, ctx):
        import copy

        import torch

        model = copy.deepcopy(ctx.lm.model)
        with torch.no_grad():
            model.lm_head.weight.mul_(1.5)
        return StageResult(LoadedModel(model, ctx.lm.tokenizer, ctx.lm.ref),
                           {"train_examples": len(ctx.data.splits["train"]), "prompt": ctx.train_prompt.name})


class _DictStage(Trainer):
    """Breaks the contract: returns a bare summary instead of a StageResult."""

    name = "dict-stage"

    def train(self, ctx):
        return {"steps": 0}


class _ShortDecoder(Decoder):
    """Breaks the contract: one prediction whatever the number of prompts."""

    name = "short"

    def decode(self, lm, prompts, labels, ctx):
        return [Prediction(label=labels.labels[0])]


class _FirstLabel(Decoder):
    """A collapsed classifier: the first label for every prompt."""

    name = "first-label"

    def decode(self, lm, prompts, labels, ctx):
        return [Prediction(label=labels.labels[0]) for _ in prompts]


class _CudaOnly(_ShortDecoder):
    """Declares that it needs a GPU."""

    name = "cuda-only"
    requires = frozenset({"cuda"})


class _ToyPlugin:
    @hookimpl
    def gencls_register_trainers(self, register):
        register(_ToyStage)
        register(_DictStage)

    @hookimpl
    def gencls_register_decoders(self, register):
        register(_ShortDecoder)
        register(_FirstLabel)
        register(_CudaOnly)


def _with_toy_plugin():
    return load_plugins(modules=[(PluginInfo("toy", "tests.test_engine", "toy-dist", "0.1"), _ToyPlugin())])


def test_a_collapsed_classifier_is_warned_about_in_the_metrics_and_the_report(tiny_run_config):
    from gencls_core.errors import GenclsWarning

    with pytest.warns(GenclsWarning, match=r"almost never predicts positive \(0 predicted, 5 gold\)"):
        result = Engine({**tiny_run_config, "decoder": "first-label"}, plugins=_with_toy_plugin()).run()
    assert result.metrics["rarely_predicted"] == {"positive": {"gold": 5, "predicted": 0}}
    assert "**Warning:** the model almost never predicts positive" in (result.run_dir / "report.md").read_text()
    from gencls_core.results import rarely_predicted

    gold, labels = ["a"] * 10 + ["b"] * 10 + ["c"] * 4, ["a", "b", "c"]
    assert rarely_predicted(gold, ["a"] * 14 + ["b"] * 10, labels) == {}  # c: under 5 gold, and no collapse
    # b: 1 of 10 is a tenth; c has 4 gold but 'a' took 23 of 24 answers while it is 10 of 24 gold: a collapse
    assert rarely_predicted(gold, ["a"] * 23 + ["b"], labels) == {"c": {"gold": 4, "predicted": 0}}
    assert rarely_predicted(gold, ["a"] * 14 + ["c"] * 9 + [None], labels) == {"b": {"gold": 10, "predicted": 0}}
    many = [f"class {i}" for i in range(24)]  # 24 classes of 2 texts: too small for the per-class rule
    assert rarely_predicted(many * 2, ["class 0"] * 48, many) == {c: {"gold": 2, "predicted": 0} for c in many[1:]}
    assert rarely_predicted(many * 2, ["class 0"] * 40 + many[:8], many) == {}  # 40 of 48 is under nine tenths
    assert rarely_predicted(["a"] * 18 + ["b"] * 2, ["a"] * 20, ["a", "b"]) == {}  # the majority: no collapse


def test_trainer_stages_run_in_order_and_are_recorded(tiny_run_config):
    plain = Engine(tiny_run_config).run()
    tiny_run_config["trainers"] = ["toy-stage", "toy-stage"]
    tiny_run_config["decoder"] = "perplexity"  # the toy plugin's decoder would otherwise fill the slot
    result = Engine(tiny_run_config, plugins=_with_toy_plugin()).run()
    assert [(s["stage"], s["trainer"]) for s in result.stages] == [(1, "toy-stage"), (2, "toy-stage")]
    assert result.stages[0]["train_examples"] == 30 and result.stages[0]["train_prompt"] == "zero-shot"
    assert _read(result.run_dir / "run.json")["stages"] == result.stages
    assert _read(result.run_dir / "metrics.json")["stages"] == result.stages
    # each stage evaluated the model it returned: the second scaled the first one's head again
    stage1 = _read(result.run_dir / "stages/1-toy-stage/stage.json")
    assert result.stages[0]["accuracy"] == stage1["metrics"]["accuracy"]
    assert [r["scores"] for r in result.predictions] != [r["scores"] for r in plain.predictions]
    lines = (result.run_dir / "stages/1-toy-stage/predictions.jsonl").read_text().splitlines()
    stage1_scores = [json.loads(line)["scores"] for line in lines]
    assert stage1_scores != [r["scores"] for r in result.predictions]
    assert (result.run_dir / "predictions.jsonl").read_text() == \
        (result.run_dir / "stages/2-toy-stage/predictions.jsonl").read_text()
    assert "## Stages" in (result.run_dir / "report.md").read_text()


def test_a_trainer_that_returns_no_stage_result_is_named(tiny_run_config):
    config = {**tiny_run_config, "trainers": ["dict-stage"], "decoder": "perplexity"}
    with pytest.raises(ContractError, match=r"trainer 'dict-stage' \(trainers\.0\) returned dict; a trainer "
                                            r"returns StageResult\(model="):
        Engine(config, plugins=_with_toy_plugin()).run()


def test_contract_breach_is_named_and_run_json_keeps_the_failure(tiny_run_config):
    tiny_run_config["decoder"] = "short"
    with pytest.raises(ContractError, match=r"decoder 'short' \(plugin 'toy' \(distribution toy-dist 0.1\)\) "
                                            r"returned 1 items for 10 prompts"):
        Engine(tiny_run_config, plugins=_with_toy_plugin()).run()
    (run_dir,) = Path(tiny_run_config["output_dir"]).iterdir()
    record = _read(run_dir / "run.json")
    assert record["status"] == "failed" and "ContractError" in record["error"]
    assert record["data"]["sizes"]["test"] == 10


def test_a_component_needing_cuda_is_refused_on_cpu_before_anything_runs(tiny_run_config):
    tiny_run_config.update(decoder="cuda-only", device="cpu")
    with pytest.raises(UsageError, match="decoder 'cuda-only' needs a CUDA GPU, but the device is cpu"):
        Engine(tiny_run_config, plugins=_with_toy_plugin()).run()
    assert not Path(tiny_run_config["output_dir"]).exists()


def test_existing_run_name_is_not_overwritten(tiny_run_config):
    tiny_run_config["run_name"] = "mine"
    first = Engine(tiny_run_config).run()
    before = (first.run_dir / "metrics.json").read_text()
    with pytest.raises(ConfigError, match="already exists"):
        Engine(tiny_run_config).run()
    assert (first.run_dir / "metrics.json").read_text() == before


def test_stages_can_be_evaluated_on_the_validation_split(tiny_run_config):
    from gencls_core.errors import ConfigError

    tiny_run_config["splits"] = {"test_size": 10, "validation_size": 6, "evaluate": "validation"}
    result = Engine(tiny_run_config).run()
    assert result.metrics["n"] == 6
    validation_texts = {r["text"] for r in result.predictions}
    assert len(validation_texts) == 6
    assert result.metrics["baseline"]["C"] == 10.0  # scored on the validation split, so not chosen on it
    tiny_run_config["splits"] = {"test_size": 10, "evaluate": "validation"}
    with pytest.raises(ConfigError, match="evaluate: validation needs a validation split"):
        Engine(tiny_run_config)


def test_the_report_lists_the_most_confident_mistakes_first():
    from gencls_core.report import mistakes

    rows = [{"text": "fine | ok", "gold": "a", "predicted": "b", "probs": {"a": 0.4, "b": 0.6}},
            {"text": "right", "gold": "a", "predicted": "a", "probs": {"a": 0.9, "b": 0.1}},
            {"text": "sure and wrong " * 20, "gold": "b", "predicted": "a", "probs": {"a": 0.95, "b": 0.05}},
            {"text": "no label", "gold": "a", "predicted": None, "probs": {}}]
    lines = mistakes(rows, n=5, width=20)
    assert lines[1] == "## The 2 most confident mistakes (of 2)"
    assert lines[5:] == ["| sure and wrong sure … | b | a | 0.950 |", "| fine \\| ok | a | b | 0.600 |"]
    assert mistakes(rows[1:2]) == []


def test_a_contexts_run_facts_are_fixed_when_it_is_made_and_its_state_is_not(tmp_path):
    from gencls_core.interfaces import RUN_FACTS, RunContext

    ctx = RunContext(seed=0, device="cpu", run_dir=None, processes=2, is_main=False)
    for fact in sorted(RUN_FACTS):
        with pytest.raises(AttributeError, match=rf"RunContext.{fact} describes the run and is fixed"):
            setattr(ctx, fact, getattr(ctx, fact))
    ctx.stage_dir, ctx.resume = tmp_path, True  # what the run has so far changes as it goes
    assert (ctx.seed, ctx.processes, ctx.is_main, ctx.stage_dir) == (0, 2, False, tmp_path)
