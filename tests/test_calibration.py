"""Calibration of perplexity scores: each method on hand-built score matrices, and through the decoder."""

import math
import random
from collections import Counter

import datasets
import pytest

from gencls_core.calibration import (
    batch_bias,
    bias_of,
    domain_texts,
    log_softmax,
    mean_distribution,
    prior_offsets,
    remove,
)
from gencls_core.chat import render_prompt
from gencls_core.errors import GenclsWarning, UsageError
from gencls_core.interfaces import LabeledData, RunContext
from gencls_plugins.decoders.perplexity import Perplexity
from gencls_plugins.labels.names import NameLabels
from gencls_plugins.models.hub import load_pretrained
from gencls_plugins.prompts.zero_shot import ZeroShot

LOG = [[math.log(0.8), math.log(0.2)], [math.log(0.6), math.log(0.4)]]


def _softmax(row):
    return [math.exp(v) for v in log_softmax(row)]


def test_contextual_bias_is_the_log_mean_distribution_by_hand():
    assert bias_of(LOG) == pytest.approx([math.log(0.7), math.log(0.3)])
    calibrated = [_softmax(r) for r in remove(LOG, bias_of(LOG))]
    odds = (0.8 / 0.7) / (0.2 / 0.3)
    assert calibrated[0] == pytest.approx([odds / (1 + odds), 1 / (1 + odds)])
    assert calibrated[1][1] > calibrated[1][0]  # 0.6 < 0.7 of the favoured label: now the other one wins


def test_batch_bias_is_the_mean_log_distribution_by_hand():
    assert batch_bias(LOG) == pytest.approx([math.log(math.sqrt(0.48)), math.log(math.sqrt(0.08))])
    row = _softmax(remove(LOG, batch_bias(LOG))[0])
    odds = (0.8 / math.sqrt(0.48)) / (0.2 / math.sqrt(0.08))
    assert row == pytest.approx([odds / (1 + odds), 1 / (1 + odds)])


def test_batch_calibration_removes_a_constant_per_label_bias_exactly():
    rng = random.Random(0)
    base = [[rng.gauss(0, 2) for _ in range(4)] for _ in range(30)]
    shift = [3.0, -1.0, 0.5, 7.0]
    biased = [[v + s for v, s in zip(row, shift)] for row in base]
    for a, b in zip(remove(base, batch_bias(base)), remove(biased, batch_bias(biased))):
        assert _softmax(a) == pytest.approx(_softmax(b), abs=1e-12)
    assert _softmax(biased[0]) != pytest.approx(_softmax(base[0]), abs=1e-3)  # the bias did change the scores


def test_prior_matching_reproduces_the_target_on_its_inputs():
    rng = random.Random(1)
    rows = [[rng.gauss(0, 1) + (2.0 if k == 0 else 0.0) for k in range(3)] for _ in range(200)]
    target = [0.2, 0.3, 0.5]
    assert mean_distribution(rows)[0] > 0.5  # skewed to the first class before
    assert mean_distribution(remove(rows, prior_offsets(rows, target, temperature=1.0))) == \
        pytest.approx(target, abs=1e-8)
    calibrated = remove(rows, prior_offsets(rows, target))  # sharpened: the predicted labels follow the target
    predicted = Counter(max(range(3), key=row.__getitem__) for row in calibrated)
    assert [predicted[k] / 200 for k in range(3)] == pytest.approx(target, abs=0.02)
    with pytest.raises(ValueError, match="needs every class"):
        prior_offsets(rows, [0.5, 0.5, 0.0])


def test_domain_inputs_are_random_training_words_of_the_mean_length():
    texts = ["alpha beta gamma", "delta epsilon zeta eta iota kappa"]
    made = domain_texts(texts, 5, None, seed=0)
    words = {w for t in texts for w in t.split()}
    assert len(made) == 5 and all(len(t.split()) == 4 and set(t.split()) <= words for t in made)
    assert made == domain_texts(texts, 5, None, seed=0) and made != domain_texts(texts, 5, None, seed=1)
    assert all(len(t.split()) == 2 for t in domain_texts(texts, 3, 2, seed=0))


@pytest.fixture(scope="module")
def lm(tiny_model_dir):
    return load_pretrained(str(tiny_model_dir), device="cpu")


@pytest.fixture
def setup(lm):
    labels = NameLabels()
    labels.setup(["negative", "positive"])
    texts = [f"review {i} was {'great' if i % 3 else 'awful'}" for i in range(24)]
    train = datasets.Dataset.from_dict({"text": texts, "label": ["positive" if i % 3 else "negative"
                                                                 for i in range(24)]})
    data = LabeledData({"train": train}, labels.labels, "Classify the sentiment of the text.")
    strategy = ZeroShot()
    strategy.setup(data, labels)
    ctx = RunContext(seed=0, device="cpu", run_dir=None, progress=False, data=data)
    ctx.render = lambda text: render_prompt(lm.tokenizer, strategy.messages(text))
    return labels, ctx, [ctx.render(t) for t in ("fine", "bad", "so so", "good film")]


@pytest.mark.parametrize("options", [
    {"calibrate": "contextual"}, {"calibrate": "domain", "domain_samples": 4}, {"calibrate": "batch"},
    {"calibrate": "batch", "fit_on": "train", "fit_size": 8}, {"calibrate": "prior", "fit_size": 12},
])
def test_each_calibration_gives_a_distribution_per_input_through_the_decoder(lm, setup, options):
    labels, ctx, prompts = setup
    raw = Perplexity(Perplexity.Config(calibrate="none")).decode(lm, prompts, labels, ctx)
    out = Perplexity(Perplexity.Config(**options)).decode(lm, prompts, labels, ctx)
    for p in out:
        assert sum(p.probs.values()) == pytest.approx(1.0) and p.label == max(p.scores, key=p.scores.get)
    shifts = [{k: p.scores[k] - math.log(r.probs[k]) for k in labels.labels} for r, p in zip(raw, out)]
    assert all(s == pytest.approx(shifts[0]) for s in shifts)  # one bias per label, the same for every input
    assert shifts[0]["negative"] != pytest.approx(shifts[0]["positive"])


def test_batch_calibration_on_the_inputs_equals_the_hand_computation(lm, setup):
    labels, ctx, prompts = setup
    raw = Perplexity(Perplexity.Config(calibrate="none")).decode(lm, prompts, labels, ctx)
    logs = [[math.log(p.probs[k]) for k in labels.labels] for p in raw]
    bias = [sum(col) / len(logs) for col in zip(*logs)]
    out = Perplexity(Perplexity.Config(calibrate="batch")).decode(lm, prompts, labels, ctx)
    for row, p in zip(logs, out):
        assert [p.scores[k] for k in labels.labels] == pytest.approx([v - b for v, b in zip(row, bias)], abs=1e-6)


def test_calibrations_that_fit_on_training_texts_need_a_training_split(lm, setup):
    labels, ctx, prompts = setup
    ctx.data = LabeledData({}, labels.labels)
    for option in ("prior", "domain"):
        decoder = Perplexity(Perplexity.Config(calibrate=option))
        assert decoder.uses_train_split()
        with pytest.raises(UsageError, match=f"calibrate={option} fits on the training split"):
            decoder.decode(lm, prompts, labels, ctx)
    assert not Perplexity(Perplexity.Config(calibrate="batch")).uses_train_split()
    assert Perplexity.Config(calibrate=True).calibrate == "contextual"
    assert Perplexity.Config(calibrate=False).calibrate == "none"


def test_auto_is_batch_before_training_none_after_and_none_with_a_warning_for_few_inputs(lm, setup):
    labels, ctx, prompts = setup
    many = prompts * 4  # 16 inputs

    def decode(calibrate, trained, texts):
        decoder = Perplexity(Perplexity.Config(calibrate=calibrate))
        ctx.trained = trained
        return [p.scores[k] for p in decoder.decode(lm, texts, labels, ctx) for k in labels.labels], decoder

    auto, decoder = decode("auto", False, many)
    assert auto == pytest.approx(decode("batch", False, many)[0]) and not decoder.shardable(ctx)
    assert auto != pytest.approx(decode("none", False, many)[0])
    trained, decoder = decode("auto", True, many)
    assert trained == decode("none", True, many)[0] and decoder.shardable(ctx)
    with pytest.warns(GenclsWarning, match="too few to fit batch calibration"):
        few, _ = decode("auto", False, prompts)
    assert few == decode("none", False, prompts)[0]
    with pytest.warns(GenclsWarning, match="set decoder.fit_on=train"):
        decode("batch", False, prompts)


@pytest.mark.parametrize("options", [{"calibrate": "prior", "fit_size": 12}, {"calibrate": "contextual"}])
def test_a_frozen_model_fits_its_calibration_once_and_decodes_as_a_fresh_decoder_would(lm, setup, monkeypatch,
                                                                                      options):
    labels, ctx, prompts = setup
    fresh = [Perplexity(Perplexity.Config(**options)).decode(lm, [p], labels, ctx)[0].scores for p in prompts[:2]]
    fits, score = [], Perplexity._scores

    def counted(self, lm, prompts, answers, chars, ctx, desc):
        fits.append(desc)
        return score(self, lm, prompts, answers, chars, ctx, desc)

    monkeypatch.setattr(Perplexity, "_scores", counted)
    ctx.frozen = True
    decoder = Perplexity(Perplexity.Config(**options))
    kept = [decoder.decode(lm, [p], labels, ctx)[0].scores for p in prompts[:2]]  # two calls, as serve makes them
    assert fits == ["perplexity", "calibrate", "perplexity"] and kept == fresh
    ctx.frozen, fits[:] = False, []  # a model that may still train: every call fits again
    decoder.decode(lm, prompts[:1], labels, ctx)
    decoder.decode(lm, prompts[:1], labels, ctx)
    assert fits.count("calibrate") == 2
