"""Dataset sources, data checks and seeded stratified splits."""

import collections
import json

import datasets
import pytest
from pydantic import ValidationError

from gencls_core import Engine
from gencls_core.config import SplitConfig
from gencls_core.data import check_labeled_data, make_splits
from gencls_core.errors import ConfigError, DataError
from gencls_core.interfaces import LabeledData, RunContext
from gencls_core.services import RunServices
from gencls_plugins.datasets.local import LocalFile


def _ctx(plugins):
    return RunContext(seed=0, device="cpu", run_dir=None, services=RunServices(plugins), progress=False)


def _local(path, **opts):
    return LocalFile(LocalFile.Config(path=path, **opts))


def _pool(n_pos, n_neg):
    return LabeledData({"train": datasets.Dataset.from_dict(
        {"text": [f"t{i}" for i in range(n_pos + n_neg)], "label": ["pos"] * n_pos + ["neg"] * n_neg})},
        ["neg", "pos"])


def test_splits_are_stratified_sized_disjoint_and_seeded():
    data = _pool(60, 40)
    cfg = SplitConfig(test_size=20, validation_size=0.1, train_size=30)
    a = make_splits(data, cfg, seed=1)
    assert {k: len(v) for k, v in a.items()} == {"test": 20, "validation": 8, "train": 30}
    assert collections.Counter(a["test"]["label"]) == {"pos": 12, "neg": 8}
    assert not set(a["test"]["text"]) & set(a["train"]["text"])
    assert not set(a["validation"]["text"]) & set(a["train"]["text"])
    assert make_splits(data, cfg, seed=1)["test"]["text"] == a["test"]["text"]
    assert make_splits(data, cfg, seed=2)["test"]["text"] != a["test"]["text"]


def test_a_provided_test_split_is_sampled_not_carved():
    data = _pool(10, 10)
    data.splits["test"] = datasets.Dataset.from_dict({"text": ["a", "b", "c", "d"], "label": ["pos", "neg"] * 2})
    out = make_splits(data, SplitConfig(test_size=2), seed=0)
    assert len(out["test"]) == 2 and set(out["test"]["text"]) <= {"a", "b", "c", "d"}
    assert len(out["train"]) == 20


def test_an_own_test_split_smaller_than_test_size_is_used_whole_and_a_larger_one_sampled_with_warnings():
    from gencls_core.errors import GenclsWarning

    data = _pool(10, 10)
    data.splits["test"] = datasets.Dataset.from_dict({"text": list("abcd"), "label": ["pos", "neg"] * 2})
    with pytest.warns(GenclsWarning, match="fewer than splits.test_size=200: evaluating all 4"):
        assert len(make_splits(data, SplitConfig(), seed=0)["test"]) == 4
    data.splits["test"] = datasets.Dataset.from_dict({"text": [str(i) for i in range(300)],
                                                      "label": ["pos", "neg"] * 150})
    with pytest.warns(GenclsWarning, match="sample of 200 .*set splits.test_size=300"):
        assert len(make_splits(data, SplitConfig(), seed=0)["test"]) == 200
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(make_splits(data, SplitConfig(test_size=100), seed=0)["test"]) == 100  # asked for: silent


def test_asking_for_more_than_available_names_the_setting():
    with pytest.raises(DataError, match=r"splits.test_size=500: only 20 examples are available"):
        make_splits(_pool(10, 10), SplitConfig(test_size=500), seed=0)


def test_check_rejects_labels_outside_the_declared_set():
    data = _pool(2, 2)
    data.labels = ["neg", "other"]
    with pytest.raises(DataError, match="split 'train' row 0: label 'pos' is not one of"):
        check_labeled_data(data, "dataset 'x'")


def test_local_csv_loads_with_labels_found(tiny_csv, gencls_plugins):
    data = _local(tiny_csv).load(_ctx(gencls_plugins))
    assert data.labels == ["negative", "positive"]
    assert len(data.splits["train"]) == 40
    check_labeled_data(data, "tiny")


def test_local_jsonl_and_parquet_with_column_mapping(tmp_path, gencls_plugins):
    rows = [{"review": f"text {i}", "stars": i % 2} for i in range(6)]
    jl = tmp_path / "d.jsonl"
    jl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    pq = tmp_path / "d.parquet"
    datasets.Dataset.from_list(rows).to_parquet(str(pq))
    for path in (jl, pq):
        data = _local(path, text_column="review", label_column="stars",
                      label_names={0: "bad", 1: "good"}).load(_ctx(gencls_plugins))
        assert data.labels == ["bad", "good"]
        assert data.splits["train"]["label"][:2] == ["bad", "good"]


def test_missing_file(tmp_path, gencls_plugins):
    with pytest.raises(DataError, match=r"data file .*nope.csv does not exist \(dataset.path\)"):
        _local(tmp_path / "nope.csv").load(_ctx(gencls_plugins))


def test_missing_column_lists_columns_and_the_setting(tiny_csv, gencls_plugins):
    with pytest.raises(DataError, match=r"no column 'review' \(columns: text, label\); set dataset.text_column"):
        _local(tiny_csv, text_column="review").load(_ctx(gencls_plugins))


def test_empty_text_reports_row_and_line(tmp_path, gencls_plugins):
    p = tmp_path / "d.csv"
    p.write_text('text,label\ngood film,positive\n"",negative\n')
    with pytest.raises(DataError, match=r"d.csv: row 2 \(line 3\): empty text in column 'text'"):
        _local(p).load(_ctx(gencls_plugins))


def test_label_outside_declared_set_reports_row(tmp_path, gencls_plugins):
    p = tmp_path / "d.csv"
    p.write_text("text,label\ngood,positive\nmeh,neutral\nbad,negative\n")
    with pytest.raises(DataError, match=r"row 2 \(line 3\): label 'neutral' is not in the declared labels"):
        _local(p, labels=["negative", "positive"]).load(_ctx(gencls_plugins))


def _write(path, rows):
    path.write_text("text,label\n" + "".join(f"{t},{label}\n" for t, label in rows))
    return path


def test_local_reads_your_own_train_and_test_files_and_keeps_them(tmp_path, gencls_plugins, tiny_run_config):
    train = _write(tmp_path / "train.csv", [(f"good {i}", "positive") for i in range(6)] +
                   [(f"bad {i}", "negative") for i in range(6)])
    test = _write(tmp_path / "test.csv", [("fine", "positive"), ("awful", "negative"), ("meh", "neutral")])
    data = LocalFile(LocalFile.Config(train=train, test=test)).load(_ctx(gencls_plugins))
    assert sorted(data.splits) == ["test", "train"] and data.labels == ["negative", "neutral", "positive"]
    assert data.splits["test"]["text"] == ["fine", "awful", "meh"] and len(data.splits["train"]) == 12
    assert data.source == {"train": str(train.resolve()), "test": str(test.resolve())}
    config = {**tiny_run_config, "dataset": {"name": "local", "train": str(train), "test": str(test)},
              "splits": {"test_size": 3}, "labels": {"name": "names"}}
    result = Engine(config).run()
    assert sorted(r["text"] for r in result.predictions) == ["awful", "fine", "meh"]  # the test file, not a carve


def test_a_bad_row_in_your_test_file_names_that_file(tmp_path, gencls_plugins):
    train = _write(tmp_path / "train.csv", [("good", "positive"), ("bad", "negative")])
    test = tmp_path / "test.csv"
    test.write_text("text,label\nfine,positive\n,negative\n")
    with pytest.raises(DataError, match=r"test.csv: row 2 \(line 3\): empty text"):
        LocalFile(LocalFile.Config(train=train, test=test)).load(_ctx(gencls_plugins))
    with pytest.raises(DataError, match=r"does not exist \(dataset.validation\)"):
        LocalFile(LocalFile.Config(train=train, validation=tmp_path / "nope.csv")).load(_ctx(gencls_plugins))


@pytest.mark.parametrize("options, message", [
    ({"path": "a.csv", "train": "b.csv"}, "either path \\(one file\\) or train/validation/test files, not both"),
    ({}, "needs path \\(one file\\) or train/validation/test files"),
    ({"validation": "v.csv"}, "a validation file needs a train or a test file"),
])
def test_local_needs_one_file_or_your_splits(options, message):
    with pytest.raises(ValidationError, match=message):
        LocalFile.Config(**options)


def test_label_noise_flips_exactly_the_recorded_training_labels_and_leaves_the_other_splits_clean(
        tiny_run_config):
    tiny_run_config["splits"] = {"test_size": 10, "validation_size": 6}
    clean = Engine(tiny_run_config).dataset()
    noisy = Engine({**tiny_run_config, "splits": {**tiny_run_config["splits"], "train_label_noise": 0.25}}).dataset()
    train, given = clean.splits["train"], noisy.splits["train"]
    assert train["text"] == given["text"] and len(noisy.flipped) == round(0.25 * len(train))
    changed = [i for i, (a, b) in enumerate(zip(train["label"], given["label"])) if a != b]
    assert changed == [f["row"] for f in noisy.flipped]
    assert all(train["label"][f["row"]] == f["label"] != f["given"] == given["label"][f["row"]] for f in noisy.flipped)
    for split in ("validation", "test"):
        assert noisy.splits[split]["label"] == clean.splits[split]["label"]
    again = Engine({**tiny_run_config, "splits": {**tiny_run_config["splits"], "train_label_noise": 0.25}}).dataset()
    assert again.flipped == noisy.flipped  # seeded
    run = Engine({**tiny_run_config, "splits": {**tiny_run_config["splits"], "train_label_noise": 0.25}}).run()
    assert json.loads((run.run_dir / "run.json").read_text())["data"]["flipped_train_labels"] == noisy.flipped
    with pytest.raises(ConfigError, match="train_label_noise"):
        Engine({**tiny_run_config, "splits": {"train_label_noise": 1.0}})
