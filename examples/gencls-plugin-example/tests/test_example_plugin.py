"""The example plugin's components, checked with gencls's contract kit, and used through gencls itself."""

import json

import pytest
from gencls_plugin_example.folder_dataset import FolderDataset
from gencls_plugin_example.question_prompt import QuestionPrompt
from gencls_plugin_example.starts_with_label import StartsWithLabel

from gencls_core import Engine
from gencls_core.errors import DataError
from gencls_core.plugins import load_plugins
from gencls_core.testing import check_component, check_dataset, check_prompt_strategy, check_reward_func
from gencls_plugins.labels.names import NameLabels

pytest_plugins = ["gencls_core.testing.fixtures"]


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "positive.txt").write_text("".join(f"good film number {i}\n" for i in range(12)))
    (tmp_path / "negative.txt").write_text("".join(f"bad film number {i}\n" for i in range(12)))
    return tmp_path


def test_components_are_registrable():
    check_component("reward_func", StartsWithLabel)
    check_component("prompt_strategy", QuestionPrompt)
    check_component("dataset", FolderDataset)


def test_reward_follows_trls_contract_for_text_and_chat_completions():
    reward = StartsWithLabel(StartsWithLabel.Config(miss=-1.0))
    plain = check_reward_func(reward, ["p1", "p2"], ["Positive!", "negative"], label=["positive", "positive"])
    chat = check_reward_func(reward, [[{"role": "user", "content": "p"}]],
                             [[{"role": "assistant", "content": "negative"}]], label=["negative"])
    assert plain == [1.0, -1.0] and chat == [1.0]


def test_folder_dataset_and_question_prompt(folder, gencls_ctx):
    data = check_dataset(FolderDataset(FolderDataset.Config(path=folder)), gencls_ctx)
    assert data.labels == ["negative", "positive"] and len(data.splits["train"]) == 24
    (messages,) = check_prompt_strategy(QuestionPrompt(), data, NameLabels(), ["good film"])
    assert messages == [{"role": "user",
                         "content": "good film\n\nWhich category fits this text best? (negative / positive)"}]


def test_folder_dataset_rejects_a_folder_without_label_files(tmp_path, gencls_ctx):
    with pytest.raises(DataError, match="at least two <label>.txt files"):
        FolderDataset(FolderDataset.Config(path=tmp_path)).load(gencls_ctx)


def test_installed_plugin_is_discovered_and_runs(folder, tiny_model_dir, tmp_path):
    plugins = load_plugins(["example"])
    entry = plugins.registry.get("dataset", "folder")
    assert (entry.plugin.name, entry.plugin.distribution) == ("example", "gencls-plugin-example")
    result = Engine({"plugins": ["example"], "progress": False, "output_dir": str(tmp_path / "runs"),
                     "model": {"name": "hf", "path": str(tiny_model_dir)},
                     "dataset": {"path": str(folder)}, "splits": {"test_size": 6}}).run()
    slots = {c["slot"]: (c["name"], c["distribution"]) for c in
             json.loads((result.run_dir / "run.json").read_text())["components"]}
    assert slots["dataset"] == ("folder", "gencls-plugin-example")
    assert slots["prompt"] == ("question", "gencls-plugin-example")
    assert result.metrics["n"] == 6


def test_plugins_list_shows_the_components_with_distribution_and_version():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "gencls_core", "plugins", "list", "--json"],
                          capture_output=True, text=True, timeout=120)
    rows = {(r["kind"], r["name"]): r for r in json.loads(done.stdout) if r["plugin"] == "example"}
    assert set(rows) == {("reward_func", "starts-with-label"), ("prompt_strategy", "question"), ("dataset", "folder")}
    assert {(r["distribution"], r["version"]) for r in rows.values()} == {("gencls-plugin-example", "0.1.0")}
