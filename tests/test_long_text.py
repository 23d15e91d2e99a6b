"""Long texts read whole (issue 34): ``long_text.policy: chunks`` decodes a text over the prompt budget in
overlapping windows and aggregates the windows' label probabilities."""

import json

import pytest

from gencls_core import Engine, hookimpl
from gencls_core.config import LongTextConfig
from gencls_core.errors import ConfigError
from gencls_core.interfaces import Decoder, Prediction
from gencls_core.long_text import LongTexts, aggregate, split_windows, window_size
from gencls_core.plugins import load_plugins
from gencls_core.registry import PluginInfo


class Keywords(Decoder):
    """Reads the prompt, not the model: each 'good' or 'bad' in it moves the probability of its class."""

    name = "keywords"

    def decode(self, lm, prompts, labels, ctx):
        out = []
        for prompt in prompts:
            good, bad = prompt.count("good"), prompt.count("bad")
            p = (1 + good) / (2 + good + bad)
            probs = {"positive": p, "negative": 1 - p}
            out.append(Prediction("positive" if p > 0.5 else "negative", probs=probs))
        return out


def _plugins():
    body = hookimpl(lambda self, register: register(Keywords))
    plugin = type("P", (), {"gencls_register_decoders": body})()
    return load_plugins(modules=[(PluginInfo("mine", "x", "mine-dist", "1.0"), plugin)])


class Tokens:
    """A tokenizer of one token per word."""

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [int(w[1:]) for w in text.split()]}

    def decode(self, ids):
        return " ".join(f"w{i}" for i in ids)


def test_windows_overlap_cover_the_text_and_are_spread_evenly_when_capped():
    text = " ".join(f"w{i}" for i in range(10))
    assert split_windows(Tokens(), text, 10, 2, 8) == ([text], False)
    windows, capped = split_windows(Tokens(), text, 4, 1, 8)
    assert windows == ["w0 w1 w2 w3", "w3 w4 w5 w6", "w6 w7 w8 w9"] and not capped
    windows, capped = split_windows(Tokens(), " ".join(f"w{i}" for i in range(11)), 4, 1, 8)
    assert windows[-1] == "w7 w8 w9 w10"  # the last window ends with the text
    windows, capped = split_windows(Tokens(), " ".join(f"w{i}" for i in range(40)), 4, 0, 3)
    assert capped and windows == ["w0 w1 w2 w3", "w16 w17 w18 w19", "w36 w37 w38 w39"]


def test_window_size_is_what_the_prompt_leaves_and_a_prompt_with_no_room_is_an_error():
    cfg = LongTextConfig(policy="chunks", overlap_tokens=8)
    assert window_size(cfg, 200, 50) == 200 - 50 - 8
    assert window_size(LongTextConfig(policy="chunks", window_tokens=64), 200, 50) == 64
    assert window_size(cfg, None, 50) is None
    with pytest.raises(ConfigError, match="leaving 2 tokens per window.*raise truncation.max_prompt_tokens"):
        window_size(cfg, 60, 50)
    with pytest.raises(ValueError, match="overlap_tokens \\(64\\) must be below window_tokens"):
        LongTextConfig(window_tokens=64, overlap_tokens=64)


def test_aggregates_by_hand():
    labels = ["negative", "positive"]
    parts = [Prediction("positive", probs={"negative": 0.4, "positive": 0.6}),
             Prediction("positive", probs={"negative": 0.45, "positive": 0.55}),
             Prediction("negative", probs={"negative": 0.99, "positive": 0.01})]
    mean = aggregate(parts, labels, "mean")  # log-mean: positive (0.6*0.55*0.01)^(1/3) < negative's
    assert mean.label == "negative" and mean.windows == 3
    assert mean.probs["negative"] == pytest.approx((0.4 * 0.45 * 0.99) ** (1 / 3) / (
        (0.4 * 0.45 * 0.99) ** (1 / 3) + (0.6 * 0.55 * 0.01) ** (1 / 3)))
    assert aggregate(parts, labels, "max").label == "negative"  # 0.99 beats 0.6
    assert aggregate(parts, labels, "vote").label == "positive"  # two windows of three
    tie = [parts[0], parts[2]]
    assert aggregate(tie, labels, "vote").label == "negative"  # the tie goes to the higher mean probability
    assert aggregate([Prediction(None, status="no_label")] * 2, labels, "mean").label is None
    with pytest.raises(ConfigError, match="needs label probabilities.*long_text.aggregate=vote"):
        aggregate([Prediction("positive"), Prediction("negative")], labels, "mean")
    assert aggregate([Prediction("positive"), Prediction("negative", output="x")], labels, "vote").label == "negative"
    for how in ("mean", "max", "vote"):  # the order of the windows changes nothing
        assert aggregate(parts[::-1], labels, how) == aggregate(parts, labels, how)
        assert aggregate(tie[::-1], labels, how) == aggregate(tie, labels, how)
    assert aggregate([Prediction("negative", output="x"), Prediction("positive")], labels, "vote").label == "negative"


class Words:
    """A tokenizer of one token per word."""

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": list(range(len(text.split())))}


def test_select_keeps_the_sentences_of_rarest_words_that_fit_in_their_order():
    train = ["the film was long.", "the film was fine.", "a zebra ran.", "they ran."]
    cfg = LongTextConfig(policy="select")
    text = "The film was long. A zebra ran fast. The film was fine. Quokka plot."
    long = LongTexts(cfg, Words(), 7, train)
    # mean rarity: quokka plot (both unseen) > zebra ran fast (ran in two texts) > the film ...; the two first
    # sentences take 3 + 5 tokens (words + 1), over 7 together
    assert long.pieces(text) == (["Quokka plot."], False)
    assert LongTexts(cfg, Words(), 9, train).pieces(text) == (["A zebra ran fast. Quokka plot."], False)
    assert long.pieces("Short one.") == (["Short one."], False)  # a text that fits is left alone
    with pytest.raises(ConfigError, match="weighs words by the training texts.*chunks"):
        LongTexts(cfg, Words(), 7, None)


@pytest.fixture
def late_keywords(tmp_path, tiny_run_config):
    """Long texts whose class word comes at their very end."""
    rows = [(" ".join(["filler"] * 150) + f" {word}", label) for word, label in (("good", "positive"),
                                                                                  ("bad", "negative"))] * 10
    data = tmp_path / "late.csv"
    data.write_text("text,label\n" + "".join(f"{t},{label}\n" for t, label in rows))
    return {**tiny_run_config, "dataset": {"name": "local", "path": str(data)}, "decoder": "keywords",
            "truncation": {"max_prompt_tokens": 96}, "splits": {"test_size": 10}}


def test_chunks_read_what_truncation_cuts_in_runs_and_in_predict(late_keywords):
    cut = Engine(late_keywords, plugins=_plugins()).run()
    assert cut.metrics["truncated"] == 10 and cut.metrics["accuracy"] == 0.5  # the class word was cut
    config = {**late_keywords, "long_text": {"policy": "chunks", "overlap_tokens": 8}}
    whole = Engine(config, plugins=_plugins()).run()
    assert whole.metrics["accuracy"] == 1.0 and whole.metrics["truncated"] == 0
    assert whole.metrics["chunked"] == 10 and whole.metrics["windows_capped"] == 0
    rows = [json.loads(line) for line in (whole.run_dir / "predictions.jsonl").read_text().splitlines()]
    assert all(r["windows"] > 1 for r in rows)
    # predict from the run directory reads the recorded long_text policy
    again = Engine.from_run_dir(whole.run_dir, plugins=_plugins()).predict([r["text"] for r in rows])
    assert [p.label for p in again] == [r["gold"] for r in rows] and all(p.windows > 1 for p in again)
    capped = Engine({**config, "long_text": {"policy": "chunks", "max_windows": 1}}, plugins=_plugins())
    with pytest.warns(UserWarning, match="needed more than long_text.max_windows"):
        assert capped.run().metrics["windows_capped"] == 10


def test_the_baseline_also_reads_only_what_the_prompts_keep_and_the_report_says_the_cut_explains_a_loss(
        late_keywords):
    cut = Engine(late_keywords, plugins=_plugins()).run()
    whole, at_budget = cut.metrics["baseline"], cut.metrics["baseline_at_budget"]
    assert whole["accuracy"] == 1.0 and at_budget["accuracy"] == 0.5  # the class word is past the budget
    assert whole["delta_accuracy"]["high"] < 0 and at_budget["delta_accuracy"]["value"] == 0.0
    assert "reading only what the prompts keep" in at_budget["name"]
    report = (cut.run_dir / "report.md").read_text()
    assert "10 of 10 texts were cut to fit the prompt" in report and "The cut texts explain the loss" in report
    chunks = Engine({**late_keywords, "long_text": {"policy": "chunks", "overlap_tokens": 8}}, plugins=_plugins())
    assert "baseline_at_budget" not in chunks.run().metrics  # nothing was cut


def test_select_reads_the_informative_sentence_that_truncation_cuts(late_keywords, tmp_path):
    rows = [(". ".join(["filler filler filler"] * 50) + f". {word}.", label)
            for word, label in (("good", "positive"), ("bad", "negative"))] * 10
    data = tmp_path / "sentences.csv"
    data.write_text("text,label\n" + "".join(f"{t},{label}\n" for t, label in rows))
    config = {**late_keywords, "dataset": {"name": "local", "path": str(data)}, "long_text": {"policy": "select"}}
    result = Engine(config, plugins=_plugins()).run()
    assert result.metrics["accuracy"] == 1.0 and result.metrics["selected"] == 10
    assert result.metrics["truncated"] == 0
    texts = [r["text"] for r in result.predictions]  # predict loads the training texts to weigh words
    again = Engine.from_run_dir(result.run_dir, plugins=_plugins()).predict(texts)
    assert [p.label for p in again] == [r["gold"] for r in result.predictions]


def test_a_text_that_fits_is_decoded_alike_under_every_policy(tiny_run_config):
    short = {**tiny_run_config, "decoder": "keywords", "truncation": {"max_prompt_tokens": 96}}
    as_is = Engine(short, plugins=_plugins()).run().predictions
    for long_text in ({"policy": "chunks", "aggregate": "mean"}, {"policy": "chunks", "aggregate": "max"},
                      {"policy": "chunks", "aggregate": "vote"}, {"policy": "select"}):
        other = Engine({**short, "long_text": long_text}, plugins=_plugins()).run()
        assert other.predictions == as_is and not other.metrics.get("chunked") and not other.metrics.get("selected")


def test_a_texts_probabilities_are_its_windows_decoded_alone_and_aggregated(tiny_run_config):
    import math

    text = " ".join(["the film was long and the plot kept turning"] * 8)
    decoder = {"name": "perplexity", "calibrate": "none"}
    chunks = {"policy": "chunks", "window_tokens": 16, "overlap_tokens": 4}
    predictor = Engine({**tiny_run_config, "decoder": decoder, "long_text": chunks}).predictor()
    [whole] = predictor([text])
    windows, _ = split_windows(predictor.inference.ctx.lm.tokenizer, text, 16, 4, 16)
    alone = Engine({**tiny_run_config, "decoder": decoder}).predictor()(windows)
    assert whole.windows == len(windows) > 2
    labels = list(whole.probs)
    mean = {label: sum(math.log(p.probs[label]) for p in alone) / len(alone) for label in labels}
    total = sum(math.exp(v) for v in mean.values())
    assert whole.probs == pytest.approx({label: math.exp(v) / total for label, v in mean.items()}, abs=1e-5)


@pytest.mark.parametrize("trainer", ["sft", "label-pg"])
def test_training_reads_every_window_with_the_texts_label(late_keywords, monkeypatch, trainer):
    import importlib

    module = importlib.import_module(f"gencls_plugins.trainers.{trainer.replace('-', '_')}.trainer")
    name = "prompt_completion" if trainer == "sft" else "prompts_with_labels"
    real, built = getattr(module, name), {}

    def spy(*args, **kwargs):  # the stage's training rows, as the trainer receives them
        return built.setdefault(args[1], real(*args, **kwargs))

    monkeypatch.setattr(module, name, spy)
    config = {**late_keywords, "decoder": "perplexity", "long_text": {"policy": "chunks", "overlap_tokens": 8},
              "trainers": [{"name": trainer, "max_steps": 1, "class_weights": {"positive": 2.0, "negative": 1.0}}]}
    result = Engine(config).run()
    train = built["train"].data
    assert len(train) > 10 and result.stages[0]["train_examples"] == len(train)  # 10 texts, several windows each
    labels = train["label"] if trainer == "label-pg" else [c[0]["content"] for c in train["completion"]]
    assert sorted(set(labels)) == ["negative", "positive"]
    assert all("filler" in p[-1]["content"] for p in train["prompt"])
    if trainer == "sft":  # each window carries its text's class weight
        assert [w == 2.0 for w in train["example_weight"]] == [c == "positive" for c in labels]


def test_one_training_window_per_text_is_drawn_from_its_windows_by_the_seed(tmp_path, tiny_run_config):
    from gencls_plugins.trainers.conversations import prompts_with_labels

    rows = [(" ".join(f"{word}{j}" for j in range(120)), label) for word, label in (("good", "positive"),
                                                                                    ("bad", "negative"))] * 8
    data = tmp_path / "long.csv"
    data.write_text("text,label\n" + "".join(f"{t},{label}\n" for t, label in rows))
    config = {**tiny_run_config, "dataset": {"name": "local", "path": str(data)}, "splits": {"test_size": 4},
              "truncation": {"max_prompt_tokens": 96}}

    def windows(train_windows, seed=0):
        long_text = {"policy": "chunks", "overlap_tokens": 8, "train_windows": train_windows}
        ctx = Engine({**config, "seed": seed, "long_text": long_text}).loaded_context("cpu", progress=False,
                                                                                      training=True)
        train = prompts_with_labels(ctx, "train", "sft").data
        return [p[-1]["content"] for p in train["prompt"]], train["label"], len(ctx.data.splits["train"])

    every, _, n = windows("all")
    one, labels, _ = windows("one")
    assert len(one) == n and len(every) > 2 * n  # one row a text instead of each of its windows
    assert set(one) <= set(every) and len(set(one)) > 2  # real windows, not always the same one
    assert sorted(set(labels)) == ["negative", "positive"]
    assert windows("one")[0] == one and windows("one", seed=1)[0] != one  # drawn by the run's seed


def test_a_window_per_epoch_sampler_draws_one_row_of_each_text_afresh_every_epoch():
    from gencls_plugins.trainers.windows import WindowPerEpoch

    owners = [0, 0, 0, 0, 1, 1, 2, 3, 3, 3]
    sampler = WindowPerEpoch(owners, seed=5)
    epochs = []
    for epoch in range(8):
        sampler.set_epoch(epoch)
        drawn = list(sampler)
        assert len(drawn) == len(sampler) == 4 and sorted(owners[i] for i in drawn) == [0, 1, 2, 3]
        assert list(sampler) == drawn  # the same epoch draws the same rows
        epochs.append(drawn)
    assert len({tuple(sorted(d)) for d in epochs}) > 3  # another window of a text in another epoch
    grouped = WindowPerEpoch(owners, seed=5, lengths=[3, 9, 4, 8, 7, 2, 5, 6, 1, 10], batch_size=2)
    assert sorted(grouped) == sorted(epochs[0])  # grouping orders the same draw


@pytest.mark.parametrize("trainer", ["sft", "label-pg"])
def test_train_windows_epoch_trains_on_one_window_of_each_text_per_epoch(tmp_path, tiny_run_config, monkeypatch,
                                                                        trainer):
    from gencls_plugins.trainers import windows

    rows = [(" ".join(f"{word}{j}" for j in range(120)), label) for word, label in (("good", "positive"),
                                                                                    ("bad", "negative"))] * 8
    data = tmp_path / "long.csv"
    data.write_text("text,label\n" + "".join(f"{t},{label}\n" for t, label in rows))
    drawn = []
    iterate = windows.WindowPerEpoch.__iter__
    monkeypatch.setattr(windows.WindowPerEpoch, "__iter__", lambda self: iter(drawn.append(list(iterate(self)))
                                                                              or drawn[-1]))
    config = {**tiny_run_config, "dataset": {"name": "local", "path": str(data)}, "splits": {"test_size": 4},
              "truncation": {"max_prompt_tokens": 96}, "output_dir": str(tmp_path / "runs"),
              "long_text": {"policy": "chunks", "overlap_tokens": 8, "train_windows": "epoch"},
              "trainers": [{"name": trainer, "epochs": 2, "batch_size": 4, "save_steps": 1000}]}
    result = Engine(config).run()
    texts = len(rows) - 4
    assert len(drawn) == 2 and all(len(d) == texts for d in drawn)
    assert drawn[0] != drawn[1] and set(drawn[0]) != set(drawn[1])  # other windows in the second epoch
    assert result.stages[-1]["train_steps"] == 2 * -(-texts // 4)  # an epoch is one window a text
    assert result.stages[-1]["train_examples"] > 2 * texts  # the rows hold every window


def test_train_windows_epoch_is_refused_by_a_trainer_that_draws_no_window_per_epoch(tmp_path, tiny_run_config):
    from gencls_core.errors import ConfigError

    rows = [(" ".join(f"good{j}" for j in range(120)), "positive"), (" ".join(f"bad{j}" for j in range(120)),
                                                                      "negative")] * 4
    data = tmp_path / "long.csv"
    data.write_text("text,label\n" + "".join(f"{t},{label}\n" for t, label in rows))
    config = {**tiny_run_config, "dataset": {"name": "local", "path": str(data)}, "splits": {"test_size": 2},
              "truncation": {"max_prompt_tokens": 96}, "output_dir": str(tmp_path / "runs"),
              "long_text": {"policy": "chunks", "train_windows": "epoch"},
              "trainers": [{"name": "grpo", "max_steps": 1, "batch_size": 4, "num_generations": 2}]}
    with pytest.raises(ConfigError, match="trainer 'grpo' does not: set train_windows to one or all"):
        Engine(config).run()
