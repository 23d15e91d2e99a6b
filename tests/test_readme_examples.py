"""The README's own-files, export, predict and serve lines, run as written (the tiny model added with --set,
`runs/<run-dir>` filled in), so the README cannot drift from the command line."""

import json
import os
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from gencls_core.cli import cli
from gencls_core.testing.tiny import write_tiny_csv

README = (Path(__file__).parents[1] / "README.md").read_text()


def _line(start: str) -> list[str]:
    """The README command line starting with ``start``, without its comment, as argv after `gencls`."""
    line = next(x for x in README.splitlines() if x.startswith(start))
    words = shlex.split(line.split("  #")[0])
    assert words[0] == "gencls"
    return words[1:]


@pytest.fixture
def readme_run(tmp_path, tiny_model_dir, monkeypatch):
    """The own-files line run in a folder holding train.csv and test.csv; its run directory."""
    monkeypatch.chdir(tmp_path)
    write_tiny_csv(tmp_path / "train.csv", n=30, seed=1)
    write_tiny_csv(tmp_path / "test.csv", n=10, seed=2)
    args = [*_line('gencls run --set "dataset={name: local'), "--set", f"model={{name: hf, path: {tiny_model_dir}}}",
            "--set", "progress=false", "--set", "dataset.task=Classify the sentiment of the text."]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "runs").iterdir()
    record = json.loads((run / "run.json").read_text())
    assert record["data"]["sizes"] == {"train": 30, "test": 10}  # the files, kept as given
    return run


def test_own_files_export_and_predict_lines_run_as_written(readme_run, tmp_path):
    runner = CliRunner()
    fill = [a.replace("runs/<run-dir>", str(readme_run)) for a in _line("gencls export runs/<run-dir>")]
    result = runner.invoke(cli, fill)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "my-classifier" / "gencls.json").is_file()
    (tmp_path / "texts.txt").write_text("a good superb film\ndull and boring\n")
    result = runner.invoke(cli, _line("gencls predict my-classifier texts.txt"))
    assert result.exit_code == 0, result.output
    rows = [json.loads(x) for x in result.stdout.splitlines()]
    assert [r["text"] for r in rows] == ["a good superb film", "dull and boring"]
    line = next(x for x in README.splitlines() if x.startswith('echo "What'))
    text, command = line.split("|")[0], line.split("|")[1].split("  #")[0]  # echo TEXT | gencls predict RUN -
    args = [a.replace("runs/<run-dir>", str(readme_run)) for a in shlex.split(command)[1:]]
    result = runner.invoke(cli, args, input=shlex.split(text)[1] + "\n")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[-1])["text"] == "What a waste of a cast."


def test_serve_line_answers_over_http(readme_run):
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = [a.replace("runs/<run-dir>", str(readme_run)).replace("8000", str(port))
            for a in _line("gencls serve runs/<run-dir>")]
    proc = subprocess.Popen([sys.executable, "-m", "gencls_core", *args], env={**os.environ, "OMP_NUM_THREADS": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(240):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
                time.sleep(0.5)
        response = httpx.post(f"http://127.0.0.1:{port}/classify", json={"texts": ["a good superb film"]})
        assert response.status_code == 200
        assert response.json()["predictions"][0]["label"] in {"positive", "negative"}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
