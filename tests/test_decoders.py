"""Decoders on a tiny random model, checked against direct computation; label parsing."""

import pytest
import torch

from gencls_core.chat import answer_suffix, render_prompt
from gencls_core.context import RunContext
from gencls_core.errors import ConfigError
from gencls_core.interfaces import LabeledData
from gencls_plugins.decoders.generate import Generate
from gencls_plugins.decoders.perplexity import Perplexity
from gencls_plugins.labels.names import NameLabels
from gencls_plugins.models.hub import load_pretrained
from gencls_plugins.prompts.zero_shot import ZeroShot


@pytest.fixture(scope="module")
def lm(tiny_model_dir):
    return load_pretrained(str(tiny_model_dir), device="cpu")


@pytest.fixture
def ctx(gencls_plugins):
    return RunContext(seed=0, device="cpu", run_dir=None, plugins=gencls_plugins, progress=False)


def _labels(display=None, labels=("negative", "positive")):
    scheme = NameLabels(NameLabels.Config(display=display or {}))
    scheme.setup(list(labels))
    return scheme


def _prompts(lm, texts, labels):
    strategy = ZeroShot()
    strategy.setup(LabeledData({}, labels.labels, "Classify the sentiment of the text."), labels)
    return [render_prompt(lm.tokenizer, strategy.messages(t)) for t in texts]


def _direct_logprob(lm, prompt, answer):
    """log p(answer | prompt) from one unbatched forward pass."""
    tok = lm.tokenizer
    p = tok(prompt, add_special_tokens=False)["input_ids"]
    a = tok(answer, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = lm.model(torch.tensor([p + a])).logits[0]
    lp = logits.log_softmax(-1)
    return [lp[len(p) - 1 + i, t].item() for i, t in enumerate(a)]


TEXTS = ["the film was good", "a dull and boring plot really", "superb actors", "poor"]


@pytest.mark.parametrize("normalize", ["sum", "mean"])
@pytest.mark.parametrize("end_of_answer", [True, False])
def test_perplexity_scores_equal_direct_computation(lm, ctx, normalize, end_of_answer):
    labels = _labels({"positive": "very good indeed"})  # a multi-token answer
    prompts = _prompts(lm, TEXTS, labels)
    dec = Perplexity(Perplexity.Config(batch_size=3, normalize=normalize, end_of_answer=end_of_answer))
    preds = dec.decode(lm, prompts, labels, ctx)
    suffix = answer_suffix(lm.tokenizer) if end_of_answer else ""
    assert suffix == "<|im_end|>" or not end_of_answer
    for prompt, pred in zip(prompts, preds):
        for label in labels.labels:
            lps = _direct_logprob(lm, prompt, labels.verbalize(label) + suffix)
            expected = sum(lps) if normalize == "sum" else sum(lps) / len(lps)
            assert pred.scores[label] == pytest.approx(expected, abs=1e-4)
        assert pred.label == max(pred.scores, key=pred.scores.get)


def test_generate_returns_one_prediction_per_prompt_with_raw_output(lm, ctx):
    labels = _labels()
    prompts = _prompts(lm, TEXTS, labels)
    preds = Generate(Generate.Config(batch_size=3, max_new_tokens=3)).decode(lm, prompts, labels, ctx)
    assert len(preds) == len(TEXTS)
    for p in preds:
        assert isinstance(p.output, str)
        assert p.label == labels.parse(p.output)
    assert lm.tokenizer.padding_side == "right"  # restored


def test_generate_is_batch_invariant(lm, ctx):
    labels = _labels()
    prompts = _prompts(lm, TEXTS, labels)
    one = Generate(Generate.Config(batch_size=1, max_new_tokens=4)).decode(lm, prompts, labels, ctx)
    many = Generate(Generate.Config(batch_size=4, max_new_tokens=4)).decode(lm, prompts, labels, ctx)
    assert [p.output for p in one] == [p.output for p in many]


@pytest.mark.parametrize("output, expected", [
    ("positive", "positive"), ("  Positive. ", "positive"), ('"NEGATIVE"', "negative"),
    ("The answer is negative.", "negative"), ("positive or negative", None), ("", None), ("neutral", None),
    ("positively", None),
])
def test_names_parsing_accepts_exactly_one_label(output, expected):
    assert _labels().parse(output) == expected


def test_display_names_are_answered_and_parsed_back():
    labels = _labels({"positive": "good", "negative": "bad"})
    assert labels.answers() == {"negative": "bad", "positive": "good"}
    assert labels.parse("Good!") == "positive"


def test_display_name_for_unknown_class_is_a_config_error():
    with pytest.raises(ConfigError, match=r"labels.display names unknown class\(es\) \['neutral'\]"):
        _labels({"neutral": "meh"})
