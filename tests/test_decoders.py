"""Decoders on a tiny random model, checked against direct computation; label parsing."""

import math
import random
from dataclasses import replace

import datasets
import pytest
import torch

from gencls_core.chat import answer_suffix, render_prompt
from gencls_core.errors import ConfigError, GenclsWarning
from gencls_core.interfaces import LabeledData, RunContext
from gencls_core.label_sets import parse_set
from gencls_core.services import RunServices
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
    return RunContext(seed=0, device="cpu", run_dir=None, services=RunServices(gencls_plugins), progress=False,
                      data=LabeledData({}, ["negative", "positive"], "Classify the sentiment of the text."))


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


@pytest.mark.parametrize("method", ["cached", "naive"])
@pytest.mark.parametrize("normalize", ["sum", "mean", "char"])
@pytest.mark.parametrize("end_of_answer", [True, False])
def test_perplexity_scores_equal_direct_computation(lm, ctx, method, normalize, end_of_answer):
    labels = _labels({"positive": "very good indeed"})  # a multi-token answer
    prompts = _prompts(lm, TEXTS, labels)
    dec = Perplexity(Perplexity.Config(batch_size=3, normalize=normalize, end_of_answer=end_of_answer,
                                       method=method))
    preds = dec.decode(lm, prompts, labels, ctx)
    suffix = answer_suffix(lm.tokenizer) if end_of_answer else ""
    assert suffix == "<|im_end|>" or not end_of_answer
    for prompt, pred in zip(prompts, preds):
        for label in labels.labels:
            lps = _direct_logprob(lm, prompt, labels.verbalize(label) + suffix)
            denom = {"sum": 1, "mean": len(lps), "char": len(labels.verbalize(label))}[normalize]
            assert pred.scores[label] == pytest.approx(sum(lps) / denom, abs=1e-4)
        assert pred.label == max(pred.scores, key=pred.scores.get)
        assert sum(pred.probs.values()) == pytest.approx(1.0)


@pytest.mark.parametrize("padding_side", ["left", "right"])
@pytest.mark.parametrize("display", [{}, {"positive": "very good indeed"}, {"positive": "good", "negative": "bad"}])
def test_cached_perplexity_matches_the_naive_reference(lm, ctx, padding_side, display):
    """Same predictions and scores whatever the tokenizer's padding side, for multi- and single-token answers."""
    labels = _labels(display)
    prompts = _prompts(lm, TEXTS * 2, labels)
    lm.tokenizer.padding_side = padding_side
    try:
        for end in (True, False):
            fast = Perplexity(Perplexity.Config(batch_size=5, end_of_answer=end)).decode(lm, prompts, labels, ctx)
            ref = Perplexity(Perplexity.Config(method="naive", end_of_answer=end)).decode(lm, prompts, labels, ctx)
            assert [p.label for p in fast] == [p.label for p in ref]
            for f, r in zip(fast, ref):
                assert f.scores == pytest.approx(r.scores, abs=1e-4)
    finally:
        lm.tokenizer.padding_side = "right"


@pytest.mark.parametrize("multi_token", [False, True])
@pytest.mark.parametrize(("shared_prefix", "passes"), [(False, 1), (True, 2)])
def test_every_batch_takes_one_forward_pass(lm, ctx, monkeypatch, shared_prefix, passes, multi_token):
    """Single-token answers need the prompt pass only; multi-token ones are packed after the prompt in the
    same pass: one pass per batch (plus one for the shared prefix, kept for later calls)."""
    from gencls_core import scoring

    scoring._KEPT.clear()
    labels = _labels({"positive": "good", "negative": "bad"})
    answers = [lm.tokenizer(t, add_special_tokens=False)["input_ids"] for t in ("good", "bad")]
    assert all(len(a) == 1 for a in answers)  # precondition: the end-of-answer token makes them two tokens
    calls = []
    forward = lm.model.forward
    monkeypatch.setattr(lm.model, "forward", lambda *a, **k: calls.append(1) or forward(*a, **k))
    prompts = _prompts(lm, TEXTS, labels)
    config = Perplexity.Config(batch_size=4, end_of_answer=multi_token, shared_prefix=shared_prefix)
    Perplexity(config).decode(lm, prompts, labels, ctx)
    assert len(calls) == passes


def test_contextual_calibration_divides_out_the_content_free_distribution(lm, ctx):
    labels = _labels()
    strategy = ZeroShot()
    strategy.setup(LabeledData({}, labels.labels, "Classify the sentiment of the text."), labels)
    ctx.render = lambda text: render_prompt(lm.tokenizer, strategy.messages(text))
    prompts = [ctx.render(t) for t in TEXTS]
    raw = Perplexity(Perplexity.Config()).decode(lm, prompts, labels, ctx)
    cf = Perplexity(Perplexity.Config()).decode(lm, [ctx.render(t) for t in ("N/A", "", "[MASK]")], labels, ctx)
    prior = {c: math.log(sum(p.probs[c] for p in cf) / 3) for c in labels.labels}
    calibrated = Perplexity(Perplexity.Config(calibrate=True)).decode(lm, prompts, labels, ctx)
    for r, c in zip(raw, calibrated):
        for label in labels.labels:
            assert c.scores[label] == pytest.approx(math.log(r.probs[label]) - prior[label], abs=1e-5)
        assert c.label == max(c.scores, key=c.scores.get)
        assert sum(c.probs.values()) == pytest.approx(1.0)


def test_generate_returns_one_prediction_per_prompt_with_raw_output(lm, ctx):
    labels = _labels()
    prompts = _prompts(lm, TEXTS, labels)
    preds = Generate(Generate.Config(batch_size=3, max_new_tokens=3)).decode(lm, prompts, labels, ctx)
    assert len(preds) == len(TEXTS)
    for p in preds:
        assert isinstance(p.output, str)
        assert p.label == labels.parse(p.output)


def test_generate_is_batch_invariant(lm, ctx):
    labels = _labels()
    prompts = _prompts(lm, TEXTS, labels)
    one = Generate(Generate.Config(batch_size=1, max_new_tokens=4)).decode(lm, prompts, labels, ctx)
    many = Generate(Generate.Config(batch_size=4, max_new_tokens=4)).decode(lm, prompts, labels, ctx)
    assert [p.output for p in one] == [p.output for p in many]


@pytest.mark.parametrize("prompting", ["zero-shot", "similar"])
def test_generate_from_the_shared_prefix_cache_scores_every_step_alike(lm, prompting):
    """The logits of every generated step, and the tokens, equal those of generating from whole prompts."""
    from gencls_core.scoring import encode_prefix, left_padded, shared_prefix_length

    labels = _labels({"positive": "very good indeed"})
    prompts = _prompts(lm, TEXTS, labels) if prompting == "zero-shot" else _few_shot_prompts(lm, labels, prompting)
    ids = lm.tokenizer(prompts, add_special_tokens=False)["input_ids"]
    prefix = encode_prefix(lm.model, ids[0][:shared_prefix_length(ids)])
    runs = []
    for shared in (prefix, None):
        enc = left_padded(ids, lm.tokenizer.pad_token_id, shared, lm.model)
        with torch.inference_mode():
            out = lm.model.generate(**enc, max_new_tokens=5, do_sample=False, min_new_tokens=5, output_logits=True,
                                    return_dict_in_generate=True, pad_token_id=lm.tokenizer.pad_token_id)
        runs.append((out.sequences[:, enc["input_ids"].shape[1]:], torch.stack(out.logits)))
    (tokens, logits), (ref_tokens, ref_logits) = runs
    assert torch.equal(tokens, ref_tokens)
    assert torch.allclose(logits, ref_logits, atol=1e-4)
    assert logits[:, 0].std(0).max() > 1e-3  # the prompts lead to different next-token logits


@pytest.mark.parametrize("constrained", [False, True])
def test_generate_with_and_without_the_shared_prefix_answers_alike(lm, ctx, constrained):
    labels = _labels({"positive": "very good indeed"})
    prompts = _prompts(lm, TEXTS, labels)
    outputs = {}
    for shared in (True, False):
        config = Generate.Config(batch_size=3, max_new_tokens=5, constrained=constrained, shared_prefix=shared)
        outputs[shared] = [p.output for p in Generate(config).decode(lm, prompts, labels, ctx)]
    assert outputs[True] == outputs[False]


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


def test_constrained_generation_always_yields_a_label(lm, ctx):
    labels = _labels({"positive": "very good indeed", "negative": "bad"})
    prompts = _prompts(lm, TEXTS * 3, labels)
    free = Generate(Generate.Config(max_new_tokens=6)).decode(lm, prompts, labels, ctx)
    constrained = Generate(Generate.Config(max_new_tokens=6, constrained=True)).decode(lm, prompts, labels, ctx)
    assert any(p.status != "ok" for p in free)  # a random model rarely says a label unconstrained
    assert all(p.status == "ok" and p.label in labels.labels for p in constrained)
    assert {p.output for p in constrained} <= {"very good indeed", "bad"}


def test_constrained_generation_of_label_sets_yields_distinct_labels_or_none(lm, ctx):
    labels = _labels(labels=("bug", "billing", "login"))
    sets = replace(ctx, data=LabeledData({}, labels.labels, "Which topics?", multi_label=True))
    decoder = Generate(Generate.Config(max_new_tokens=24, constrained=True))
    tree = decoder._tree(lm.tokenizer, labels, sets)
    tok, rng, walks = lm.tokenizer, random.Random(0), set()
    for _ in range(40):  # random walks through the allowed tokens end in a set the parser reads back
        ids: list[int] = []
        while (allowed := tree.allowed(ids)) != [tok.eos_token_id]:
            ids.append(rng.choice(allowed))
        text = tok.decode(ids, skip_special_tokens=True).strip()
        pieces = text.split(", ")
        assert parse_set(text, labels.answers())[1] == "ok" and len(pieces) == len(set(pieces)), text  # no repeats
        walks.add(len(pieces) if text != "none" else 0)
    assert walks == {0, 1, 2, 3}
    assert tree.allowed(tok("none", add_special_tokens=False)["input_ids"]) == tree.end[:1]
    predictions = decoder.decode(lm, _prompts(lm, TEXTS * 3, labels), labels, sets)
    assert all(parse_set(p.output, labels.answers())[1] == "ok" for p in predictions)
    with pytest.warns(GenclsWarning, match="an answer naming all 3 labels takes"):
        Generate(Generate.Config(max_new_tokens=4, constrained=True))._tree(lm.tokenizer, labels, sets)


def test_the_allowed_answers_are_built_once_per_tokenizer_and_labels(lm, ctx):
    from gencls_core.answers import PrefixTree, SetTree

    labels = _labels(labels=("bug", "billing", "login"))
    sets = replace(ctx, data=LabeledData({}, labels.labels, "Which topics?", multi_label=True))
    decoder = Generate(Generate.Config(max_new_tokens=24, constrained=True))
    tree = decoder._tree(lm.tokenizer, labels, sets)
    assert decoder._tree(lm.tokenizer, _labels(labels=("bug", "billing", "login")), sets) is tree  # serve: per call
    renamed = _labels({"bug": "defect"}, labels=("bug", "billing", "login"))
    assert decoder._tree(lm.tokenizer, renamed, sets) is not tree
    assert isinstance(decoder._tree(lm.tokenizer, labels, ctx), PrefixTree)  # the same labels, one per text
    assert isinstance(decoder._tree(lm.tokenizer, labels, sets), SetTree)


def test_a_label_set_may_end_after_any_label_without_an_end_of_turn_marker(lm, monkeypatch):
    from gencls_core.answers import SetTree

    monkeypatch.setattr("gencls_core.answers.answer_suffix", lambda tokenizer: "")
    tok = lm.tokenizer
    tree = SetTree(tok, _labels(labels=("bug", "billing", "login")), [tok.eos_token_id])
    assert tok.eos_token_id in tree.allowed(tok("bug", add_special_tokens=False)["input_ids"])


@pytest.mark.parametrize("output, found", [
    ("Let me think. The review praises the film.\nAnswer: positive", ["positive"]),
    ("<think>negative words? no</think><answer>positive</answer>", ["positive"]),
    ("It could be negative or positive.", ["negative", "positive"]),
    ("Final answer = negative.", ["negative"]),
    ("no idea", []),
])
def test_think_then_answer_forms(output, found):
    assert _labels().find(output) == found


def test_numeric_answers_parse_exactly():
    labels = _labels({"negative": "1", "positive": "2"})
    assert labels.parse("2") == "positive" and labels.parse("Answer: 1.") == "negative"
    assert labels.parse("12") is None and labels.parse("1 or 2") is None


def test_cached_perplexity_with_eager_attention_matches_naive(tiny_model_dir, lm, ctx):
    from transformers import AutoModelForCausalLM

    eager = type(lm)(AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="eager").eval(),
                     lm.tokenizer, "eager")
    labels = _labels({"positive": "very good indeed"})
    prompts = _prompts(lm, TEXTS, labels)
    fast = Perplexity(Perplexity.Config(batch_size=4)).decode(eager, prompts, labels, ctx)
    ref = Perplexity(Perplexity.Config(method="naive")).decode(lm, prompts, labels, ctx)
    for f, r in zip(fast, ref):
        assert f.scores == pytest.approx(r.scores, abs=1e-4)


def _few_shot_prompts(lm, labels, mode):
    from gencls_plugins.prompts.few_shot import FewShot

    train = datasets.Dataset.from_dict({"text": ["loved it", "awful", "fine work", "bad acting", "great"],
                                        "label": ["positive", "negative", "positive", "negative", "positive"]})
    strategy = FewShot(FewShot.Config(n=2, mode=mode))
    strategy.setup(LabeledData({"train": train}, labels.labels, "Classify the sentiment."), labels)
    return [render_prompt(lm.tokenizer, strategy.messages(t)) for t in TEXTS]


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
@pytest.mark.parametrize("prompting", ["zero-shot", "fixed", "similar"])
@pytest.mark.parametrize("display", [{"positive": "good", "negative": "bad"}, {"positive": "very good indeed"}])
def test_shared_prefix_cache_gives_the_scores_of_whole_prompts(tiny_model_dir, lm, ctx, attention, prompting,
                                                                display):
    """Zero-shot and fixed demonstrations share a long prefix, similar ones a shorter one; single- and
    multi-token answers; the scores equal those of encoding every whole prompt."""
    from transformers import AutoModelForCausalLM

    from gencls_core.scoring import shared_prefix_length

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation=attention).eval()
    tiny = type(lm)(model, lm.tokenizer, attention)
    labels = _labels(display)
    prompts = _prompts(lm, TEXTS, labels) if prompting == "zero-shot" else _few_shot_prompts(lm, labels, prompting)
    ids = lm.tokenizer(prompts, add_special_tokens=False)["input_ids"]
    assert shared_prefix_length(ids) > 10  # the chat template and instructions at least
    reuse = Perplexity(Perplexity.Config(batch_size=3)).decode(tiny, prompts, labels, ctx)
    whole = Perplexity(Perplexity.Config(batch_size=3, shared_prefix=False)).decode(tiny, prompts, labels, ctx)
    assert [p.label for p in reuse] == [p.label for p in whole]
    for r, w in zip(reuse, whole):
        assert r.scores == pytest.approx(w.scores, abs=1e-4)


def test_shared_prefix_length_leaves_every_prompt_a_token_and_a_wrong_prefix_is_refused(lm):
    from gencls_core.scoring import cached_answer_logprobs, encode_prefix, shared_prefix_length

    assert shared_prefix_length([[1, 2, 3, 4], [1, 2, 5]]) == 2
    assert shared_prefix_length([[1, 2, 3], [1, 2, 3, 4]]) == 2  # the shorter prompt keeps its last token
    assert shared_prefix_length([[7, 1], [8, 1]]) == 0
    assert shared_prefix_length([[1, 2, 3]]) == 2
    prefix = encode_prefix(lm.model, [1, 2])
    with pytest.raises(ValueError, match="does not start with the shared prefix"):
        cached_answer_logprobs(lm.model, [[1, 3, 4]], [[5]], 0, prefix)


def test_the_prefix_cache_goes_by_the_name_this_transformers_takes(lm):
    """No deprecated cache argument: transformers 5.40 drops ``past_key_values``, and a cache passed by a name
    the model no longer takes would be ignored."""
    import warnings

    from gencls_core.scoring import cached_answer_logprobs, encode_prefix, prefixed_forward

    prefix = encode_prefix(lm.model, [1, 2])
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*past_key_values", category=FutureWarning)
        for answers in ([[5]], [[5, 6], [7]]):
            cached_answer_logprobs(lm.model, [[1, 2, 3, 4], [1, 2, 9]], answers, 0, prefix)
        prefixed_forward(lm.model, torch.tensor([[1, 2, 3], [1, 2, 4]]), 2)


def test_the_shared_prefix_is_kept_across_calls_until_the_weights_change(lm, ctx, monkeypatch):
    """A one-text call after a many-text call runs the text's own tokens only, with the same scores; a weight
    changed in place makes the next call encode the prefix again."""
    import torch

    from gencls_core import scoring

    labels = _labels()
    prompts = _prompts(lm, TEXTS, labels)
    decoder = Perplexity(Perplexity.Config(batch_size=4, calibrate="none"))
    scoring._KEPT.clear()
    monkeypatch.setattr(ctx, "frozen", True)  # as Engine.predictor sets it
    many = decoder.decode(lm, prompts, labels, ctx)
    encoded = []
    encode = scoring.encode_prefix
    monkeypatch.setattr(scoring, "encode_prefix", lambda m, ids: encoded.append(len(ids)) or encode(m, ids))
    one = decoder.decode(lm, prompts[:1], labels, ctx)
    assert encoded == [] and one[0].scores == pytest.approx(many[0].scores, abs=1e-5)
    parameter = next(lm.model.parameters())
    with torch.no_grad():
        parameter.add_(0.0)  # an in-place change, as an optimiser step makes
    decoder.decode(lm, prompts[:1], labels, ctx)
    assert len(encoded) == 1  # encoded again (the one prompt's own prefix, not kept)
