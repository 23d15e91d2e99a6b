"""`gencls study`: grid expansion and its errors, shared training, resume, the summary table and its intervals,
the TF-IDF baseline and the plots, on the tiny model."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from gencls_core.errors import ConfigError, UsageError
from gencls_core.stats import macro_f1, seed_bootstrap
from gencls_core.study import baselines, open_study
from gencls_core.study.plan import TRAIN_SECONDS, baseline_seconds, estimate_seconds
from gencls_core.study.runner import Folder, run_all
from gencls_core.study.summary import summarize
from gencls_core.testing.tiny import NEGATIVE, POSITIVE
from gencls_plugins.trainers.sft import SFT

SFT_STAGE = {"name": "sft", "max_steps": 2, "save_steps": 2, "learning_rate": 1e-2}


def _spec(tmp_path, tiny_run_config, **changes):
    base = {k: v for k, v in tiny_run_config.items() if k != "output_dir"}
    spec = {"name": "toy", "base": {**base, "splits": {"test_size": 10, "train_size": 16}},
            "axes": {"train": {"zero": {"trainers": []}, "sft": {"trainers": [SFT_STAGE]},
                               "sft2": {"trainers": [SFT_STAGE, {**SFT_STAGE, "learning_rate": 5e-3}]}},
                     "decoder": {"ppl": "perplexity", "gen": {"name": "generate", "max_new_tokens": 4}}},
            "baseline": {"train": "zero", "decoder": "ppl"}, **changes}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.fixture
def train_calls(monkeypatch):
    """Every SFT stage run, as the name of the stage folder it trained."""
    calls, train = [], SFT.train

    def counted(self, ctx):
        calls.append(ctx.run_dir.name)
        return train(self, ctx)

    monkeypatch.setattr(SFT, "train", counted)
    return calls


def test_expansion_names_cells_and_applies_include_exclude(tmp_path, tiny_run_config):
    study, planned = open_study(_spec(tmp_path, tiny_run_config, exclude=[{"train": "sft2", "decoder": "gen"}]))
    assert [c.name for c in study.cells] == ["zero.ppl", "zero.gen", "sft.ppl", "sft.gen", "sft2.ppl"]
    assert study.cells[3].config["decoder"] == {"name": "generate", "max_new_tokens": 4}
    assert study.baseline_row == "zero.ppl" and study.column_axis is None
    study, _ = open_study(_spec(tmp_path, tiny_run_config, include=[{"train": ["sft", "sft2"]}], seeds=[0, 3],
                                 baseline={"train": "sft", "decoder": "ppl"}))
    assert [c.name for c in study.cells][:3] == ["sft.ppl.0", "sft.ppl.3", "sft.gen.0"]
    assert study.cells[1].config["seed"] == 3 and study.row(study.cells[1]) == "sft.ppl"


def test_placeholders_take_the_cells_value_names(tmp_path, tiny_run_config):
    axes = {"train": {"zero": {"trainers": []}}, "decoder": {"ppl": {"name": "perplexity"}},
            "run_name": {"x": "${decoder}-${train}"}}
    study, _ = open_study(_spec(tmp_path, tiny_run_config, axes=axes, baseline=None))
    assert study.cells[0].config["run_name"] == "ppl-zero"
    with pytest.raises(ConfigError, match=r"names \$\{decodr\}.*did you mean 'decoder'"):
        open_study(_spec(tmp_path, tiny_run_config, axes={**axes, "run_name": {"x": "${decodr}"}}, baseline=None))


def test_plan_shares_training_between_inference_variants_and_stage_prefixes(tmp_path, tiny_run_config):
    _, planned = open_study(_spec(tmp_path, tiny_run_config))
    shared = {p.cell.name: (p.source, len(p.trainers)) for p in planned}
    assert shared == {"zero.ppl": (None, 0), "zero.gen": (None, 0), "sft.ppl": (None, 1), "sft.gen": ("sft.ppl", 0),
                      "sft2.ppl": ("sft.ppl", 1), "sft2.gen": ("sft2.ppl", 0)}
    config = planned[-1].run_config(tmp_path / "out")
    assert config["start_from"] == str(tmp_path / "out" / "sft2.ppl") and config["trainers"] == []
    cost = {p.cell.name: estimate_seconds(p) for p in planned}
    assert cost["zero.gen"] > cost["zero.ppl"] and cost["sft.ppl"] > cost["sft.gen"]  # tokens; training


@pytest.mark.parametrize(("changes", "message"), [
    ({"axes": {"promt": {"a": "zero-shot"}}}, "not a config path.*did you mean 'prompt'"),
    ({"axes": {"train": {"x": {"trainerz": []}}}}, "unknown config path 'trainerz'"),
    ({"axes": {"decoder": {"bad": {"name": "perplexity", "calibrat": "batch"}}}, "baseline": None},
     "(?s)study cell bad.*calibrat"),
    ({"exclude": [{"train": ["zero", "sft", "sft2"]}]}, "grid is empty"),
    ({"baseline": {"train": "none", "decoder": "ppl"}}, "not a cell"),
    ({"baseline": {"train": "zero"}}, "one value of each row axis"),
    ({"axes": {"decoder": {"a": "perplexity", "b": {"name": "perplexity"}}}, "baseline": None}, "same resolved"),
    ({"axes": {"train": {"a.b": {}}}}, "value name 'a.b'"),
])
def test_bad_specs_fail_before_anything_runs(tmp_path, tiny_run_config, changes, message):
    with pytest.raises(ConfigError, match=message):
        open_study(_spec(tmp_path, tiny_run_config, **changes))
    assert not Path(tiny_run_config["output_dir"]).exists()


def test_plan_and_run_load_every_cells_data_first_and_name_the_cells_that_would_fail(tmp_path, tiny_run_config):
    from gencls_core.cli import cli

    axes = {"data": {"ok": {"dataset": tiny_run_config["dataset"]},
                     "gone": {"dataset": {"name": "local", "path": "missing/reviews.csv"}}},
            "prompt": {"plain": "zero-shot", "defined": {"name": "zero-shot", "definitions": "missing/defs.yaml",
                                                         "template": "{task}\n{definitions}{labels}\n{text}"}}}
    spec = _spec(tmp_path, tiny_run_config, axes=axes, baseline=None)
    out = tmp_path / "s"
    result = CliRunner().invoke(cli, ["study", "plan", str(spec), "--out", str(out)])
    problems = result.output.split("do not load")[1]
    assert result.exit_code == 1 and "cell(s) gone.plain, gone.defined:" in problems
    assert "missing/reviews.csv" in problems and "ok.plain" not in problems
    assert "cell(s) ok.defined, gone.defined: prompt.definitions: missing/defs.yaml does not exist" in problems
    result = CliRunner().invoke(cli, ["study", "run", str(spec), "--out", str(out)])
    assert result.exit_code != 0 and "gone.plain" in str(result.exception) and not out.exists()


def test_a_folder_holding_another_study_or_changed_cells_is_refused(tmp_path, tiny_run_config):
    _, planned = open_study(_spec(tmp_path, tiny_run_config))
    Folder(tmp_path / "s", "toy", planned).claim()
    with pytest.raises(UsageError, match="holds study 'toy'"):
        Folder(tmp_path / "s", "other", planned).claim()
    (tmp_path / "s" / "zero.ppl").mkdir()
    _, changed = open_study(_spec(tmp_path, tiny_run_config), ["base.splits.test_size=12"])
    with pytest.raises(UsageError, match="cell zero.ppl was run with another config"):
        Folder(tmp_path / "s", "toy", changed).claim()


def test_study_trains_once_per_shared_stage_resumes_and_summarizes(tmp_path, tiny_run_config, train_calls,
                                                                    monkeypatch):
    study, planned = open_study(_spec(tmp_path, tiny_run_config))
    folder = Folder(tmp_path / "s", "toy", planned)
    folder.claim()
    train = SFT.train

    def interrupted(self, ctx):  # the second SFT stage run is interrupted
        if len(train_calls) == 1:
            train_calls.append("interrupted")
            raise KeyboardInterrupt("test")
        return train(self, ctx)

    monkeypatch.setattr(SFT, "train", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_all(folder, progress=False)
    monkeypatch.setattr(SFT, "train", train)
    assert folder.status("sft.ppl") == "done" and folder.status("sft2.ppl") == "interrupted"
    first = {n: (tmp_path / "s" / n / "run.json").read_text() for n in ("zero.ppl", "zero.gen", "sft.ppl")}
    states = run_all(folder, progress=False)
    assert set(states.values()) == {"done"}
    assert {n: (tmp_path / "s" / n / "run.json").read_text() for n in first} == first  # finished cells skipped
    # one SFT for sft.*, the interrupted second stage once more for sft2.*: 3 stage runs, none for the .gen cells
    assert train_calls == ["sft.ppl", "interrupted", "sft2.ppl"]
    assert json.loads((tmp_path / "s/sft2.ppl/run.json").read_text())["resumed"]

    summary = summarize(study, tmp_path / "s", resamples=200)
    for cell in study.cells:
        metrics = json.loads((tmp_path / "s" / cell.name / "metrics.json").read_text())
        entry = summary.entries[cell.name, "all"]
        assert entry.accuracy[0] == pytest.approx(metrics["accuracy"])
        assert entry.f1[0] == pytest.approx(metrics["f1_macro"])
        assert entry.accuracy[1] <= entry.accuracy[0] <= entry.accuracy[2]
    assert summary.entries["sft.gen", "all"].delta[0] == pytest.approx(
        summary.entries["sft.gen", "all"].accuracy[0] - summary.entries["zero.ppl", "all"].accuracy[0])
    assert summary.entries["TF-IDF + logistic regression", "all"].accuracy[0] >= 0.8  # keyword data


def test_the_command_runs_the_study_writes_tables_and_plots_and_skips_done_cells(tmp_path, tiny_run_config,
                                                                                  train_calls):
    from gencls_core.cli import cli

    spec = _spec(tmp_path, tiny_run_config, include=[{"train": ["zero", "sft"]}], heatmap=["train", "decoder"])
    out = tmp_path / "s"
    runner = CliRunner()
    result = runner.invoke(cli, ["study", "plan", str(spec), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "sft.gen: evaluates only from sft.ppl's model" in result.output
    result = runner.invoke(cli, ["study", "run", str(spec), "--out", str(out), "--resamples", "200"])
    assert result.exit_code == 0, result.output
    assert train_calls == ["sft.ppl"]
    table = (out / "summary.md").read_text()
    assert "| sft.gen |" in table and "TF-IDF + logistic regression" in table and "minus the baseline" in table
    assert len((out / "summary.csv").read_text().splitlines()) == 1 + 4 + 1
    assert (out / "img/accuracy-all.png").stat().st_size > 0 and (out / "img/heatmap-all.png").stat().st_size > 0
    metrics = {c.name: json.loads((c / "metrics.json").read_text()) for c in out.iterdir()
               if (c / "metrics.json").is_file()}
    flagged = [name for name, m in metrics.items() if "rarely_predicted" in m]  # the untrained model answers one class
    assert flagged and all(f"- {name}: the model almost never predicts" in table for name in flagged)
    result = runner.invoke(cli, ["study", "run", str(spec), "--out", str(out), "--resamples", "200"])
    assert result.exit_code == 0 and train_calls == ["sft.ppl"]
    result = runner.invoke(cli, ["study", "commands", str(spec), "--out", str(out)])
    assert result.output.splitlines()[0] == "# wave 1" and "--only sft.gen" in result.output.split("# wave 2")[1]
    # a changed spec: plan marks the cells run otherwise, summary refuses to table them as the new spec's
    changed = ["--out", str(out), "--set", "base.splits.train_size=12"]
    result = runner.invoke(cli, ["study", "plan", str(spec), *changed])
    assert result.exit_code == 0 and "[changed] sft.ppl" in result.output and "4 cell(s) marked" in result.output
    result = runner.invoke(cli, ["study", "summary", str(spec), *changed])
    assert result.exit_code != 0 and "was run with another config" in str(result.exception)


def test_one_job_evaluates_each_trained_model_before_training_the_next(tmp_path, tiny_run_config, monkeypatch):
    from gencls_core.study import runner

    order, run_cell = [], runner.run_cell
    monkeypatch.setattr(runner, "run_cell", lambda folder, name: (order.append(name), run_cell(folder, name)))
    axes = {"train": {"a": {"trainers": [SFT_STAGE]}, "b": {"trainers": [{**SFT_STAGE, "learning_rate": 5e-3}]}},
            "decoder": {"ppl": "perplexity", "gen": {"name": "generate", "max_new_tokens": 2}}}
    _, planned = open_study(_spec(tmp_path, tiny_run_config, axes=axes, baseline={"train": "a", "decoder": "ppl"}))
    folder = Folder(tmp_path / "s", "toy", planned)
    folder.claim()
    assert set(run_all(folder, progress=False).values()) == {"done"}
    assert order == ["a.ppl", "a.gen", "b.ppl", "b.gen"]


def test_sigterm_leaves_the_running_cell_interrupted_and_says_how_to_go_on(tmp_path, tiny_run_config):
    long = {**SFT_STAGE, "max_steps": 5000, "save_steps": 2}
    axes = {"train": {"sft": {"trainers": [long]}}, "decoder": {"ppl": "perplexity"}}
    spec = _spec(tmp_path, tiny_run_config, axes=axes, baseline={"train": "sft", "decoder": "ppl"}, baselines=[])
    out = tmp_path / "s"
    proc = subprocess.Popen([sys.executable, "-m", "gencls_core", "study", "run", str(spec), "--out", str(out)],
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 600  # generous: a loaded machine starts torch slowly
    while time.time() < deadline and not list(out.glob("sft.ppl/stages/1-sft/checkpoints/checkpoint-*")):
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()[1]  # still training when the signal comes
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "study interrupted by SIGTERM; run the same command again" in err
    assert json.loads((out / "sft.ppl/run.json").read_text())["status"] == "interrupted"


def test_a_failed_cell_is_recorded_and_blocks_only_the_cells_starting_from_it(tmp_path, tiny_run_config,
                                                                               monkeypatch):
    def broken(self, ctx):
        raise RuntimeError("boom")

    monkeypatch.setattr(SFT, "train", broken)
    _, planned = open_study(_spec(tmp_path, tiny_run_config))
    folder = Folder(tmp_path / "s", "toy", planned)
    folder.claim()
    states = run_all(folder, progress=False)
    assert states == {"zero.ppl": "done", "zero.gen": "done", "sft.ppl": "failed", "sft.gen": "blocked",
                      "sft2.ppl": "blocked", "sft2.gen": "blocked"}
    cells = json.loads((tmp_path / "s/study.json").read_text())["cells"]
    assert "boom" in cells["sft.ppl"]["error"] and "sft.ppl did not finish" in cells["sft.gen"]["error"]


def test_seed_bootstrap_averages_seeds_and_matches_sklearn_macro_f1():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(0)
    gold, pred = rng.integers(0, 3, 200), rng.integers(-1, 3, 200)
    expected = f1_score(gold, np.where(pred < 0, 9, pred), labels=[0, 1, 2], average="macro", zero_division=0)
    assert macro_f1(gold[None], pred[None], 3)[0] == pytest.approx(expected)
    correct = [np.ones(100), np.r_[np.ones(50), np.zeros(50)]]
    stats = [lambda idx, c=c: c[idx].mean(-1) for c in correct]
    value, low, high = seed_bootstrap(stats, [100, 100], resamples=4000)
    assert value == 0.75  # (1.0 + 0.5) / 2
    # only the second seed varies: the half of a binomial proportion's interval, 0.5 +- 1.96 * 0.05
    assert low == pytest.approx(0.75 - 0.5 * 1.96 * 0.05, abs=0.01) and high == pytest.approx(
        0.75 + 0.5 * 1.96 * 0.05, abs=0.01)
    assert seed_bootstrap([stats[0]], [100]) == (1.0, 1.0, 1.0)


def test_the_example_study_expands_and_shares_its_sft_stages():
    study, planned = open_study(Path(__file__).parents[1] / "examples/study.yaml")
    assert len(study.cells) == 93 and study.column_axis == "dataset"
    trained = [p for p in planned if p.trainers]
    assert sorted(t["name"] for p in trained for t in p.trainers) == ["label-pg"] * 3 + ["sft"] * 21
    rl = next(p for p in planned if p.cell.name == "bbc-news.naive+rl.naive.0")
    assert rl.source == "bbc-news.naive.naive.0"
    defs = next(c for c in study.cells if c.name == "bbc-news.definitions.naive.0")
    assert defs.config["prompt"]["definitions"] == "examples/definitions/bbc-news.yaml"
    # the plan counts one seqcls fit per dataset and seed, and none once it is cached
    asked = []
    one_fit = baseline_seconds(study, lambda *key: asked.append(key) or key[1] == "bbc-news")
    assert asked == [("seqcls", c, "0") for c in ("movie-reviews", "bbc-news", "drug-reviews")]
    assert one_fit > 200 * TRAIN_SECONDS and baseline_seconds(study, lambda *key: True) == 0
    # the classification head trains with the baseline row's SFT recipe, the sft defaults without one
    naive = next(c for c in study.cells if c.name == "bbc-news.naive.naive.0")
    zero_shot = next(c for c in study.cells if c.name == "bbc-news.none.naive.0")
    assert baselines.baseline_recipe("seqcls", naive.head_recipe, naive.resolved)["learning_rate"] == 1e-3
    assert zero_shot.head_recipe == {}
    budget = zero_shot.resolved["truncation"]["max_prompt_tokens"]  # BBC articles are cut: so is the head's text
    assert baselines.baseline_recipe("seqcls", zero_shot.head_recipe, zero_shot.resolved) == {
        **baselines.SEQCLS, "max_prompt_tokens": budget}
    # and reads as much of a text as the row's prompt budget keeps
    cut = {**zero_shot.resolved, "truncation": {"max_prompt_tokens": 192}}
    assert baselines.baseline_recipe("seqcls", {}, cut) == {**baselines.SEQCLS, "max_prompt_tokens": 192}


@pytest.mark.parametrize(("learning_rate", "learns"), [(1e-2, True), (0.0, False)])
def test_the_classification_head_baseline_learns_a_keyword_task_on_the_lms_own_body(tmp_path, tiny_run_config,
                                                                                     learning_rate, learns):
    words = [(w, "positive") for w in POSITIVE] + [(w, "negative") for w in NEGATIVE]
    data = tmp_path / "keywords.csv"
    data.write_text("text,label\n" + "".join(f"{w},{label}\n" for w, label in words * 6))  # one-word texts
    # a stage's head recipe at this learning rate, 25 epochs (1.0 on seeds 0-4; 10 epochs: 0.8)
    head = {"learning_rate": learning_rate, "epochs": 25 if learns else 1, "not_a_head_option": 1}
    recipe = baselines.baseline_recipe("seqcls", head, {})
    assert recipe == {**baselines.SEQCLS, "learning_rate": learning_rate, "epochs": head["epochs"]}
    config = {**tiny_run_config, "dataset": {**tiny_run_config["dataset"], "path": str(data)},
              "splits": {"test_size": 20}}
    out = tmp_path / "seqcls.jsonl"
    rows = baselines.baseline_predictions("seqcls", config, out, recipe)
    accuracy = sum(r["correct"] for r in rows) / len(rows)
    assert len(rows) == 20 and (accuracy >= 0.9) == learns
    assert baselines.baseline_predictions("seqcls", config, out, recipe) == rows  # cached
    with pytest.raises(ConfigError, match=r"seqcls\.jsonl was fitted otherwise \(recipe differ.*delete it"):
        baselines.baseline_predictions("seqcls", config, out, {**recipe, "epochs": 3})
    with pytest.raises(ConfigError, match=r"fitted otherwise \(splits differ"):
        baselines.baseline_predictions("seqcls", {**config, "splits": {"test_size": 10}}, out, recipe)


@pytest.mark.parametrize(("max_tokens", "learns"), [(64, True), (6, False)])
def test_the_classification_head_baseline_reads_a_text_up_to_its_token_budget(tmp_path, tiny_run_config,
                                                                               max_tokens, learns):
    words = [(w, "positive") for w in POSITIVE] + [(w, "negative") for w in NEGATIVE]
    data = tmp_path / "keywords.csv"
    filler = " ".join(["the"] * 12)  # the keyword comes after 12 tokens of filler
    data.write_text("text,label\n" + "".join(f"{filler} {w},{label}\n" for w, label in words * 6))
    recipe = {**baselines.SEQCLS, "learning_rate": 1e-2, "epochs": 25, "max_tokens": max_tokens}
    config = {**tiny_run_config, "dataset": {**tiny_run_config["dataset"], "path": str(data)},
              "splits": {"test_size": 20}}
    rows = baselines.baseline_predictions("seqcls", config, tmp_path / "seqcls.jsonl", recipe)
    assert (sum(r["correct"] for r in rows) / len(rows) >= 0.9) == learns


@pytest.mark.parametrize(("kept", "learns"), [(64, True), (6, False)])
def test_under_a_prompt_budget_the_head_reads_what_the_prompt_keeps_of_a_text(tmp_path, tiny_run_config, kept,
                                                                               learns):
    """The keyword after 12 tokens of filler is read when the run's prompts keep 64 tokens of a text, not when
    they keep 6, though the prompt budget itself is then far over 12 tokens."""
    from gencls_core.engine import Engine
    from gencls_core.inference import Inference

    words = [(w, "positive") for w in POSITIVE] + [(w, "negative") for w in NEGATIVE]
    data = tmp_path / "keywords.csv"
    filler = " ".join(["the"] * 12)
    data.write_text("text,label\n" + "".join(f"{filler} {w},{label}\n" for w, label in words * 6))
    config = {**tiny_run_config, "dataset": {**tiny_run_config["dataset"], "path": str(data)},
              "splits": {"test_size": 20}}
    engine = Engine(config)
    overhead = 1000 - Inference(engine.resolution, engine.loaded_context("cpu", progress=False)).text_tokens(1000)
    assert overhead > 12
    config["truncation"] = {"max_prompt_tokens": overhead + kept}
    recipe = {**baselines.SEQCLS, "learning_rate": 1e-2, "epochs": 25, **baselines.text_budget(config)}
    out = tmp_path / "seqcls.jsonl"
    rows = baselines.baseline_predictions("seqcls", config, out, recipe)
    assert json.loads(out.with_suffix(".train.json").read_text())["text_tokens"] == kept
    assert (sum(r["correct"] for r in rows) / len(rows) >= 0.9) == learns
    with pytest.raises(ConfigError, match="keeps nothing of a text.*raise truncation.max_prompt_tokens"):
        baselines.baseline_predictions("seqcls", {**config, "truncation": {"max_prompt_tokens": overhead}},
                                       tmp_path / "none.jsonl", {**recipe, "max_prompt_tokens": overhead})


@pytest.mark.parametrize(("learning_rate", "learns"), [(1e-2, True), (0.0, False)])
def test_the_classification_head_baseline_stops_on_validation_and_keeps_its_best_step(tmp_path, tiny_run_config,
                                                                                   learning_rate, learns):
    words = [(w, "positive") for w in POSITIVE] + [(w, "negative") for w in NEGATIVE]
    data = tmp_path / "keywords.csv"
    data.write_text("text,label\n" + "".join(f"{w},{label}\n" for w, label in words * 8))
    config = {**tiny_run_config, "dataset": {**tiny_run_config["dataset"], "path": str(data)},
              "splits": {"validation_size": 16, "test_size": 16}}
    recipe = {**baselines.SEQCLS, "learning_rate": learning_rate, "epochs": 25, "patience": 2,
              "evaluations_per_epoch": 1}
    out = tmp_path / "seqcls.jsonl"
    rows = baselines.baseline_predictions("seqcls", config, out, recipe)
    trained = json.loads(out.with_suffix(".train.json").read_text())
    steps_per_epoch = -(-(len(words) * 8 - 32) // recipe["batch_size"])
    # no gain for two evaluations ends the stage long before 25 epochs; without learning the first is the best
    assert trained["stopped"] == "early_stopping" and trained["steps"] < 25 * steps_per_epoch
    assert trained["steps"] == trained["best_step"] + 2 * steps_per_epoch
    assert (trained["best_f1_macro"] == 1.0) == learns
    assert (trained["best_step"] == steps_per_epoch) == (not learns)
    assert (sum(r["correct"] for r in rows) / len(rows) >= 0.9) == learns
