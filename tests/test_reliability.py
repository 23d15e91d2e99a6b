"""Reliability round 2 (issue 32): nothing deleted that gencls did not create, labels read as written, a run
directory or an export is data (never code), bad input to every command and to the server is named."""

import csv
import errno
import json
import os
import shutil
import warnings
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gencls_core import Engine
from gencls_core.config import build_config
from gencls_core.errors import ConfigError, DataError, GenclsWarning, ModelError, UsageError
from gencls_core.export import export_run
from gencls_core.serve import create_app
from gencls_core.testing.tiny import make_tiny_model
from tests.test_faults import _cli


def _write_csv(path, rows, header=("text", "label")):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture
def trained_run(tiny_run_config):
    config = {**tiny_run_config, "trainers": [{"name": "sft", "max_steps": 1, "save_steps": 1}]}
    return Engine(config).run().run_dir


def _edit_record(run_dir, **changes):
    record = json.loads((run_dir / "run.json").read_text())
    record.update(changes)
    (run_dir / "run.json").write_text(json.dumps(record))
    return record


# -- export never deletes what it did not create -----------------------------------------------------------
def test_export_force_replaces_only_an_earlier_export(trained_run, tmp_path, monkeypatch, capsys):
    runs = trained_run.parent
    before = sorted(p.name for p in runs.iterdir())
    for target in (runs, trained_run):
        with pytest.raises(UsageError, match="--force would delete .*which is or holds the run being exported"):
            export_run(trained_run, target, force=True)
    with pytest.raises(UsageError, match="which is part of the run being exported"):
        export_run(trained_run, trained_run / "stages", force=True)
    (runs / "other-run").mkdir()
    with pytest.raises(UsageError, match="other-run is not one"):  # a folder beside the run: not an export
        export_run(trained_run, runs / "other-run", force=True)
    assert sorted(p.name for p in runs.iterdir()) == [*before, "other-run"] and (trained_run / "run.json").is_file()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my own file")
    code, _, err = _cli(capsys, "export", str(trained_run), str(mine), "--force")
    assert code == 2 and "not one (no gencls.json)" in err and (mine / "notes.txt").read_text() == "my own file"
    monkeypatch.chdir(mine)
    with pytest.raises(UsageError, match="the working directory"):
        export_run(trained_run, Path("."), force=True)
    out = export_run(trained_run, tmp_path / "export")
    (out / "stale").write_text("from before")
    export_run(trained_run, out, force=True)  # an earlier export is replaced whole
    assert (out / "gencls.json").is_file() and not (out / "stale").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_export_of_an_unfinished_run_does_not_suggest_a_flag_it_lacks(trained_run, tmp_path):
    _edit_record(trained_run, status="interrupted")
    with pytest.raises(UsageError, match="has not finished") as err:
        export_run(trained_run, tmp_path / "export")
    assert "--allow-unfinished" not in str(err.value) and not (tmp_path / "export").exists()


# -- labels and texts are read exactly as written ----------------------------------------------------------
WRITTEN = ["true", "false", "01", "1", "1.0", "NA", "None"]


def test_labels_and_texts_are_read_as_written_in_csv_and_json_lines(tmp_path):
    rows = [(f"text {i}" if i % 5 else "NA", WRITTEN[i % len(WRITTEN)]) for i in range(70)]
    csv_path = _write_csv(tmp_path / "d.csv", rows)
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text("".join(json.dumps({"text": t, "label": label}) + "\n" for t, label in rows)
                     + '{"text": "a", "label": 1.0}\n{"text": "b", "label": true}\n{"text": "c", "label": 1}\n')
    for path in (csv_path, jsonl):
        data = Engine({"dataset": {"name": "local", "path": str(path)}, "splits": {"test_size": 14}}).dataset()
        assert data.labels == sorted(WRITTEN)
        texts = [t for split in data.splits.values() for t in split["text"]]
        assert texts.count("NA") == 14


def test_a_run_answers_the_labels_as_written(tiny_run_config, tmp_path):
    rows = [(t, "true" if label == "positive" else "false") for t, label in
            csv.reader(open(tiny_run_config["dataset"]["path"]))][1:]
    tiny_run_config["dataset"]["path"] = str(_write_csv(tmp_path / "bool.csv", rows))
    result = Engine(tiny_run_config).run()
    assert json.loads((result.run_dir / "run.json").read_text())["data"]["labels"] == ["false", "true"]
    assert {r["gold"] for r in result.predictions} == {"false", "true"}
    assert {r["predicted"] for r in result.predictions} <= {"false", "true"}
    assert set(Engine.from_run_dir(result.run_dir).predict(["good"])[0].probs) == {"false", "true"}


def test_definition_files_are_keyed_by_the_labels_as_written(tmp_path):
    from gencls_plugins.prompts.definitions import load_definitions

    path = tmp_path / "defs.yaml"
    path.write_text("true: a claim that holds\n01: the first code\nNA: not applicable\n")
    assert load_definitions(str(path), ["true", "01", "NA"], "prompt") == {
        "true": "a claim that holds", "01": "the first code", "NA": "not applicable"}


# -- a run directory or an export is data ---------------------------------------------------------------------
def _remote_code_model(folder, marker):
    """The tiny model, with a config asking transformers to import code that the folder ships."""
    shutil.copytree(folder, marker.parent / "remote")
    remote = marker.parent / "remote"
    (remote / "evil.py").write_text(f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"
                                    "from transformers import LlamaForCausalLM\n"
                                    "class EvilModel(LlamaForCausalLM):\n    pass\n")
    config = json.loads((remote / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "evil.EvilModel"}
    (remote / "config.json").write_text(json.dumps(config))
    return remote


def test_a_run_json_cannot_turn_on_remote_code(tiny_run_config, tiny_model_dir, tmp_path):
    run_dir = Engine(tiny_run_config).run().run_dir
    marker = tmp_path / "PWNED"
    remote = _remote_code_model(tiny_model_dir, marker)
    record = json.loads((run_dir / "run.json").read_text())
    record["config"]["model"] = {"name": "hf", "path": str(remote), "trust_remote_code": True}
    (run_dir / "run.json").write_text(json.dumps(record))
    with pytest.warns(GenclsWarning, match="asks model to run code from its model folder; not honoured"):
        engine = Engine.from_run_dir(run_dir)
    assert engine.config.model.options["trust_remote_code"] is False
    engine.predict(["good"])
    assert not marker.exists()
    with pytest.warns(GenclsWarning, match="running it, as --trust-remote-code allows"):
        trusted = Engine.from_run_dir(run_dir, trust_remote_code=True)
    trusted.predict(["good"])
    assert marker.read_text() == "ran"  # the control: the folder's code does run when the user allows it


@pytest.mark.parametrize("where", ["../elsewhere", "/tmp", "stages/../../x"])
def test_recorded_paths_stay_inside_the_run_directory(trained_run, tmp_path, where):
    _edit_record(trained_run, trained_model=where)
    with pytest.raises(UsageError, match="is not a folder inside the run directory"):
        Engine.from_run_dir(trained_run)
    cfg = dict(json.loads((trained_run / "run.json").read_text())["config"], start_from=str(trained_run),
               output_dir=str(tmp_path / "more"))
    with pytest.raises(UsageError, match="is not a folder inside the run directory"):
        Engine(cfg).run()


def test_an_adapter_is_applied_only_to_its_own_base_model(trained_run, tmp_path):
    other = make_tiny_model(tmp_path / "another-model", seed=1)
    record = json.loads((trained_run / "run.json").read_text())
    record["config"]["model"]["path"] = str(other)
    (trained_run / "run.json").write_text(json.dumps(record))
    with pytest.raises(ModelError, match="was trained on .*but the run's model is"):
        Engine.from_run_dir(trained_run).predict(["good"])


def test_an_export_manifest_cannot_name_a_model_plugins_or_remote_code(trained_run, tmp_path):
    out = export_run(trained_run, tmp_path / "export")
    manifest = json.loads((out / "gencls.json").read_text())
    manifest["config"].update(plugins=["nope-not-installed"], output_dir="/",
                              model={"name": "hf", "path": "/elsewhere", "trust_remote_code": True})
    (out / "gencls.json").write_text(json.dumps(manifest))
    engine = Engine.from_pretrained(out)
    assert engine.config.plugins == [] and engine.config.model.options == {"path": str(out.resolve()),
                                                                            "trust_remote_code": False}
    del manifest["labels"]
    (out / "gencls.json").write_text(json.dumps(manifest))
    with pytest.raises(UsageError, match="lacks labels"):
        Engine.from_pretrained(out)


@pytest.mark.parametrize("name", ["../../x", "/abs/olute", "a/b", "..", "."])
def test_a_run_name_is_a_name(name):
    with pytest.raises(ConfigError, match="is not a folder name"):
        build_config({"run_name": name})
    assert build_config({"run_name": "my-run.2"}).run_name == "my-run.2"


# -- YAML is data with a budget ----------------------------------------------------------------------------------
def _alias_bomb(levels=9):
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_a_yaml_alias_bomb_is_refused_before_it_expands(tmp_path):
    from gencls_core.safeyaml import YamlTooLarge, load_yaml

    with pytest.raises(YamlTooLarge, match="expand it to more than"):
        load_yaml(_alias_bomb())
    with pytest.raises(YamlTooLarge, match="refers to a value that contains it"):
        load_yaml("a: &a [*a]\n")
    assert load_yaml("a: &x {b: 1}\nc: *x\n") == {"a": {"b": 1}, "c": {"b": 1}}  # ordinary aliases still work
    path = tmp_path / "bomb.yaml"
    path.write_text(_alias_bomb())
    with pytest.raises(ConfigError, match="bomb.yaml: not valid YAML: its aliases expand"):
        build_config(path)
    with pytest.raises(ConfigError, match="expand it to more than"):
        build_config({}, [f"dataset.labels={_alias_bomb(7).replace(chr(10), ', ').join('{}')}"])


# -- the server says what it did ----------------------------------------------------------------------------------
def test_the_server_refuses_texts_a_run_refuses_and_says_what_it_cut(trained_run):
    long_text = " ".join(["good film"] * 400)
    engine = Engine.from_run_dir(trained_run, overrides=["truncation.max_prompt_tokens=60"])
    with TestClient(create_app(engine), raise_server_exceptions=False) as client:
        for body, says in [({"texts": ["fine", "\ud800"]}, "texts[1] holds a lone UTF-16 surrogate"),
                           ({"texts": "   "}, "the text is empty or only whitespace"),
                           ({"texts": ["ok", ""]}, "texts[1] is empty")]:
            response = client.post("/classify", content=json.dumps(body), headers={"content-type": "application/json"})
            assert response.status_code == 422 and says in response.json()["detail"], response.text
        plain = client.post("/classify", content=json.dumps({"texts": ["good"]}),
                            headers={"content-type": "text/plain"})
        assert plain.status_code == 422 and "content-type: application/json" in plain.json()["detail"]
        answers = client.post("/classify", json={"texts": ["good", long_text]}).json()["predictions"]
        assert [a["truncated"] for a in answers] == [False, True]
    predictor = engine.predictor()  # the Python API refuses the same texts
    for texts, says in [(["ok", "  "], "input 1: the text is empty"), (["\udfff"], "input 0: the text holds a lone")]:
        with pytest.raises(DataError, match=says):
            predictor(texts)


# -- leakage and conflicts are counted --------------------------------------------------------------------------
def test_leaked_and_contradictory_texts_are_warned_about_and_recorded(tiny_run_config, tmp_path):
    rows = list(csv.reader(open(tiny_run_config["dataset"]["path"])))[1:]
    train = _write_csv(tmp_path / "train.csv", rows + [(rows[0][0], "negative" if rows[0][1] == "positive"
                                                        else "positive")])
    test = _write_csv(tmp_path / "test.csv", rows[:3] + [("an unseen text", "positive"), ("a bad one", "negative")])
    tiny_run_config["dataset"] = {"name": "local", "train": str(train), "test": str(test)}
    with pytest.warns(GenclsWarning) as caught:
        result = Engine(tiny_run_config).run()
    said = " ".join(str(w.message) for w in caught)
    assert "3 of 5 test examples also appear in the training split" in said
    assert "1 distinct text(s) appear with different labels" in said
    assert json.loads((result.run_dir / "metrics.json").read_text())["data_checks"] == {
        "test_in_train": 3, "conflicting_texts": 1}


# -- damaged files are named ------------------------------------------------------------------------------------
def test_a_damaged_adapter_is_named(trained_run):
    model = trained_run / "stages/1-sft/model"
    weights = next(model.glob("*.safetensors"))
    weights.write_bytes(b"not a safetensors file")
    with pytest.raises(ModelError, match=f"could not load the trained model in {model}"):
        Engine.from_run_dir(trained_run).predict(["good"])
    (model / "adapter_config.json").write_text("{not json")
    with pytest.raises(ModelError, match="adapter_config.json is not a JSON object"):
        Engine.from_run_dir(trained_run).predict(["good"])


def test_a_damaged_export_is_named(trained_run, tmp_path):
    out = export_run(trained_run, tmp_path / "export")
    (out / "model.safetensors").write_bytes(b"\0" * 64)
    with pytest.raises(ModelError, match=f"could not load the model in {out}.*damaged"):
        Engine.from_pretrained(out).predict(["good"])


def test_a_bad_json_line_in_the_middle_is_named(tmp_path):
    path = tmp_path / "d.jsonl"
    lines = [json.dumps({"text": f"t{i}", "label": "ab"[i % 2]}) for i in range(30)]
    lines[17] = '{"text": "broken, "label": "a"}'
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="d.jsonl: line 18 is not valid JSON"):
        Engine({"dataset": {"name": "local", "path": str(path)}, "splits": {"test_size": 4}}).dataset()


def test_a_run_json_without_config_is_named(trained_run):
    record = json.loads((trained_run / "run.json").read_text())
    del record["config"]
    (trained_run / "run.json").write_text(json.dumps(record))
    with pytest.raises(UsageError, match="run.json has no config mapping"):
        Engine.from_run_dir(trained_run)


# -- predict's inputs -------------------------------------------------------------------------------------------
def test_predict_reads_csv_by_column_keeps_line_numbers_and_refuses_binary_or_its_own_output(trained_run, tmp_path,
                                                                                             capsys):
    texts = tmp_path / "texts.txt"
    texts.write_text("a good film\n\nsuperb\n  \ndull\n")
    code, out, err = _cli(capsys, "predict", str(trained_run), str(texts))
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [(r["line"], r["text"]) for r in rows] == [(1, "a good film"), (3, "superb"), (5, "dull")]
    assert "skipped 2 empty line(s) (line 2, 4)" in err
    table = _write_csv(tmp_path / "in.csv", [("7", "great fun", "x"), ("8", "awful", "y")], ("id", "review", "n"))
    code, out, err = _cli(capsys, "predict", str(trained_run), str(table))
    assert code == 1 and "no column 'text' (columns: id, review, n); name the text column with --text-column" in err
    code, out, _ = _cli(capsys, "predict", str(trained_run), str(table), "--text-column", "review",
                        "-o", str(tmp_path / "out.csv"))
    got = list(csv.DictReader(open(tmp_path / "out.csv")))
    assert code == 0 and [(r["line"], r["text"], r["truncated"]) for r in got] == [("1", "great fun", "False"),
                                                                                   ("2", "awful", "False")]
    binary = tmp_path / "weights.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    code, _, err = _cli(capsys, "predict", str(trained_run), str(binary))
    assert code == 1 and f"{binary} is not UTF-8 text" in err
    code, _, err = _cli(capsys, "predict", str(trained_run), str(texts), "-o", str(texts))
    assert code == 2 and "is the input file" in err and texts.read_text().startswith("a good film")


# -- faults mid-run -------------------------------------------------------------------------------------------
def test_a_full_disk_during_training_is_recorded_and_names_the_run(tiny_run_config, monkeypatch):
    import gencls_core.results as results
    from gencls_plugins.trainers.sft.trainer import SFT

    def full(self, ctx):
        raise OSError(errno.ENOSPC, "No space left on device")

    real = results.write_text_atomic

    def no_temporary_files(path, text):
        if '"status": "failed"' in text:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, text)

    monkeypatch.setattr(SFT, "train", full)
    monkeypatch.setattr(results, "write_text_atomic", no_temporary_files)
    tiny_run_config["trainers"] = [{"name": "sft", "max_steps": 1}]
    with pytest.raises(UsageError, match=r"the disk holding .*runs/.* is full .*run.json says failed"):
        Engine(tiny_run_config).run()
    record = json.loads(next(Path(tiny_run_config["output_dir"]).glob("*/run.json")).read_text())
    assert record["status"] == "failed" and "No space left" in record["error"]


def test_a_full_disk_at_the_start_leaves_nothing(tiny_run_config, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(UsageError, match="is not writable \\(No space left on device\\)"):
        Engine(tiny_run_config).run()
    assert not list(Path(tiny_run_config["output_dir"]).iterdir())


def test_model_and_checkpoint_files_follow_the_umask(trained_run, tmp_path):
    old = os.umask(0o022)
    try:
        out = export_run(trained_run, tmp_path / "export")
    finally:
        os.umask(old)
    for folder in (trained_run / "stages", out):
        modes = {oct(p.stat().st_mode & 0o777) for p in folder.rglob("*") if p.is_file()}
        assert modes == {oct(0o666 & ~old)}, (folder, modes)


# -- messages ----------------------------------------------------------------------------------------------
def test_set_values_are_blamed_on_set_and_not_coerced(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("splits: {test_size: 10}\n")
    with pytest.raises(ConfigError, match=r"--set splits.test_size=abc: splits.test_size") as err:
        build_config(path, ["splits.test_size=abc"])
    assert "run.yaml" not in str(err.value)
    with pytest.raises(ConfigError, match="--set decoder.batch_size=x: decoder.batch_size"):
        Engine(path, overrides=["decoder.batch_size=x"])
    with pytest.raises(ConfigError, match="seed: Input should be a valid integer"):
        build_config({}, ["seed=true"])


def test_a_device_as_data_file_is_not_called_missing():
    with pytest.raises(DataError, match="/dev/zero is not a regular file"):
        Engine({"dataset": {"name": "local", "path": "/dev/zero"}}).dataset()


def test_labels_differing_in_case_are_reported_without_naming_an_unset_option(tiny_run_config, tmp_path):
    rows = [(f"text {i}", "Spam" if i % 2 else "spam") for i in range(30)]
    tiny_run_config["dataset"]["path"] = str(_write_csv(tmp_path / "d.csv", rows))
    with pytest.raises(ConfigError, match="'Spam' and 'spam' read the same.*rename one in the data") as err:
        Engine(tiny_run_config).run()
    assert "labels.display:" not in str(err.value)
    assert not any(Path(tiny_run_config["output_dir"]).iterdir())  # refused before the run directory


def test_nested_answers_warn_before_free_generation(tiny_run_config, tmp_path):
    rows = [(f"text {i}", "spam" if i % 2 else "not spam") for i in range(30)]
    tiny_run_config["dataset"]["path"] = str(_write_csv(tmp_path / "d.csv", rows))
    tiny_run_config["decoder"] = {"name": "generate", "max_new_tokens": 2}
    with pytest.warns(GenclsWarning, match="ambiguous between these classes .'not spam' reads as"):
        Engine(tiny_run_config).run()
    tiny_run_config["decoder"] = "perplexity"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Engine(tiny_run_config).run()
    assert not [w for w in caught if "ambiguous" in str(w.message)]


def test_a_bad_plugins_variable_does_not_break_the_listing(monkeypatch, capsys):
    monkeypatch.setenv("GENCLS_PLUGINS", "#$%,no:nothing")
    code, out, err = _cli(capsys, "plugins", "list")
    assert code == 0 and "decoder" in out
    assert "plugin '#$%' (from GENCLS_PLUGINS='#$%,no:nothing') is not installed" in err



@pytest.mark.parametrize(("name", "content"), [
    ("in.csv", "text,ticket\ngood film,7\nbad film\n"),
    ("in.jsonl", '{"text": "good", "ticket": 7}\n{"text": "bad", "ticket": null}\n')])
def test_predict_input_refuses_a_text_without_its_id(tmp_path, name, content):
    from gencls_core.predict_input import read_inputs

    source = tmp_path / name
    source.write_text(content)
    assert read_inputs(str(source)).texts[1].startswith("bad")  # no id asked for: fine
    with pytest.raises(DataError, match=rf"{name}: (row|line) 2 has no 'ticket' value"):
        read_inputs(str(source), id_column="ticket")


def test_predict_reads_a_parquet_table_by_column_with_its_ids(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from gencls_core.predict_input import read_inputs

    source = tmp_path / "tickets.parquet"
    pq.write_table(pa.table({"body": ["good film", "", "bad film", None], "ticket": [7, 8, 9, 10]}), source)
    with pytest.warns(GenclsWarning, match=r"skipped 2 empty row\(s\) \(row 2, 4\)"):
        inputs = read_inputs(str(source), text_column="body", id_column="ticket")
    assert (inputs.texts, inputs.lines, inputs.ids) == (["good film", "bad film"], [1, 3], ["7", "9"])
    with pytest.raises(DataError, match=r"no column 'text' \(columns: body, ticket\); name the text column"):
        read_inputs(str(source))
    pq.write_table(pa.table({"text": ["a", "b"], "ticket": [1, None]}), source)
    with pytest.raises(DataError, match=r"tickets.parquet: row 2 has no 'ticket' value"):
        read_inputs(str(source), id_column="ticket")
    pq.write_table(pa.table({"text": [1, 2]}), source)
    with pytest.raises(DataError, match=r"column 'text' holds int, not text \(row 1\)"):
        read_inputs(str(source))
    source.write_text("not parquet at all")
    with pytest.raises(DataError, match=r"does not read as Parquet"):
        read_inputs(str(source))
