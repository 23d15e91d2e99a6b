"""run.json as one typed record: its one writer, what a failed or resumed run keeps, records of other versions."""

import json

import pytest

from gencls_core import Engine
from gencls_core.run_record import RunRecord, RunRecorder

BASE = {"gencls_version": "0", "started": "2026-01-01T00:00:00", "seed": 0, "device": "cpu", "python": "3.11",
        "libraries": {}, "components": [{"slot": "model", "name": "hf"}], "plugins": [], "config": {}}


def test_the_recorder_writes_only_what_is_set_and_keeps_unknown_keys(tmp_path):
    record = RunRecord.model_validate({**BASE, "written_by_a_newer_version": [1]})
    recorder = RunRecorder(tmp_path / "run.json", record)
    recorder.save(status="done", metrics={"accuracy": 0.5})
    written = json.loads((tmp_path / "run.json").read_text())
    assert written["status"] == "done" and written["metrics"] == {"accuracy": 0.5}
    assert written["written_by_a_newer_version"] == [1] and "error" not in written and "recipe" not in written
    assert record.slots() == {"model": "hf"}
    RunRecorder(tmp_path / "other.json", record, write=False).save(status="failed")  # not the main process
    assert not (tmp_path / "other.json").exists() and record.status == "failed"


def test_a_failure_is_recorded_without_its_traceback_when_the_full_write_fails(tmp_path, monkeypatch):
    recorder = RunRecorder(tmp_path / "run.json", RunRecord.model_validate(BASE))

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("gencls_core.run_record.write_json", full)
    assert recorder.save_failure("failed", "OSError: disk full", "Traceback ...")
    written = json.loads((tmp_path / "run.json").read_text())
    assert written["status"] == "failed" and written["error"] == "OSError: disk full" and "traceback" not in written


def test_a_failed_runs_record_keeps_the_stages_it_finished(tiny_run_config, monkeypatch):
    from gencls_plugins.trainers.sft import SFT

    tiny_run_config["trainers"] = [{"name": "sft", "max_steps": 1}, {"name": "sft", "max_steps": 1}]
    calls, train = [], SFT.train

    def second_fails(self, ctx):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("boom")
        return train(self, ctx)

    monkeypatch.setattr(SFT, "train", second_fails)
    engine = Engine(tiny_run_config)
    with pytest.raises(RuntimeError, match="boom"):
        engine.run()
    record = json.loads((engine.run_dir / "run.json").read_text())
    assert record["status"] == "failed" and [s["stage"] for s in record["stages"]] == [1]
    assert record["trained_model"] == "stages/1-sft/model" and "RuntimeError: boom" in record["traceback"]
