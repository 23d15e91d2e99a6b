"""Fault injection: every way a run can go wrong ends in a clear error (exit 2 for usage mistakes), a run
record that says what happened, and nothing half-written or silently wrong."""

import csv
import errno
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from gencls_core import Engine, hookimpl
from gencls_core.cli import main
from gencls_core.contracts import check_predictions, check_rewards
from gencls_core.errors import ContractError, DataError, PluginLoadError, TrainingDiverged, UsageError
from gencls_core.interfaces import Decoder, Prediction
from gencls_core.plugins import load_plugins
from gencls_core.registry import PluginInfo
from gencls_core.results import write_json, write_text_atomic


def _cli(capsys, *args):
    """Run the CLI in-process: (exit code, stdout, stderr)."""
    capsys.readouterr()  # drop what came before
    try:
        main(list(args))
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    out = capsys.readouterr()
    return code, out.out, out.err


def _config_file(tmp_path, cfg):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def _read(path):
    return json.loads(Path(path).read_text())


def _run_dirs(cfg):
    folder = Path(cfg["output_dir"])
    return sorted(folder.iterdir()) if folder.is_dir() else []


def _plugin(name, **hooks):
    class Module:
        pass

    module = Module()
    for hook, fn in hooks.items():
        setattr(module, hook, hookimpl(fn))
    return load_plugins(modules=[(PluginInfo(name, "tests", f"{name}-dist", "1"), module)])


# -- divergence and non-finite numbers -------------------------------------------------------------------------
@pytest.mark.parametrize("lora", [None, {"r": 4}])
def test_a_diverging_stage_stops_at_the_step_and_keeps_the_checkpoints_before_it(tiny_run_config, lora):
    tiny_run_config["trainers"] = [{"name": "sft", "lora": lora, "max_steps": 6, "learning_rate": 1e6,
                                    "save_steps": 1, "logging_steps": 1}]
    with pytest.raises(TrainingDiverged, match=r"training stage 1-sft: trainable weight .* is not finite at step 2"):
        Engine(tiny_run_config).run()
    (run_dir,) = _run_dirs(tiny_run_config)
    record = _read(run_dir / "run.json")
    assert record["status"] == "failed" and "TrainingDiverged" in record["error"]
    checkpoints = sorted(p.name for p in (run_dir / "stages/1-sft/checkpoints").glob("checkpoint-*"))
    assert checkpoints == ["checkpoint-1"]  # the diverged step was never saved
    assert not (run_dir / "predictions.jsonl").exists() and not (run_dir / "stages/1-sft/model").exists()


def test_non_finite_logs_and_weights_are_refused(gencls_ctx, tmp_path):
    from gencls_plugins.trainers.guards import require_finite, require_finite_weights

    gencls_ctx.stage_dir = tmp_path / "stages/1-ppo"
    require_finite(gencls_ctx, {"loss": 0.5, "reward": -1.0, "epoch": float("nan")}, 3)  # epoch is not watched
    with pytest.raises(TrainingDiverged, match="1-ppo: kl is inf at step 3.*no checkpoint was written"):
        require_finite(gencls_ctx, {"loss": 0.5, "kl": math.inf}, 3)
    layer = torch.nn.Linear(2, 2)
    require_finite_weights(gencls_ctx, layer, 4)
    with torch.no_grad():
        layer.bias[0] = float("nan")
    with pytest.raises(TrainingDiverged, match="trainable weight bias is not finite at step 4"):
        require_finite_weights(gencls_ctx, layer, 4)


def test_nan_scores_never_become_a_label():
    good = Prediction(label="a", scores={"a": -1.0, "b": -2.0}, probs={"a": 0.7, "b": 0.3})
    assert check_predictions("decoder 'x'", [good], 1, ["a", "b"]) == [good]
    nan = Prediction(label="a", scores={"a": float("nan"), "b": float("nan")}, probs={"a": 0.5, "b": 0.5})
    with pytest.raises(ContractError, match=r"decoder 'x' returned non-finite scores .* for input 0"):
        check_predictions("decoder 'x'", [nan], 1, ["a", "b"])


def test_a_model_with_nan_weights_fails_the_run_instead_of_predicting(tiny_run_config, tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    with torch.no_grad():
        model.lm_head.weight.fill_(float("nan"))
    model.save_pretrained(tmp_path / "nan-model")
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(tmp_path / "nan-model")
    tiny_run_config["model"] = {"name": "hf", "path": str(tmp_path / "nan-model")}
    with pytest.raises(ContractError, match="decoder 'perplexity'.*non-finite scores"):
        Engine(tiny_run_config).run()
    (run_dir,) = _run_dirs(tiny_run_config)
    assert _read(run_dir / "run.json")["status"] == "failed"
    assert not (run_dir / "predictions.jsonl").exists()


@pytest.mark.parametrize("bad", [float("nan"), math.inf, -math.inf])
def test_non_finite_rewards_are_a_contract_error(bad):
    assert check_rewards("reward 'r'", [1.0, None], 2) == [1.0, None]
    with pytest.raises(ContractError, match=r"reward 'r' returned .* at position 1; rewards must be finite"):
        check_rewards("reward 'r'", [1.0, bad], 2)


def test_a_nan_reward_stops_grpo_naming_the_reward(tiny_run_config):
    from gencls_core.interfaces import RewardFunc

    class NanReward(RewardFunc):
        name = "nan-reward"

        def __call__(self, prompts, completions, **kwargs):
            return [float("nan")] * len(completions)

    plugins = _plugin("nanplug", gencls_register_reward_funcs=lambda register: register(NanReward))
    tiny_run_config.update(rewards=["nan-reward"], trainers=[{"name": "grpo", "max_steps": 1, "batch_size": 4,
                                                              "num_generations": 2, "max_completion_length": 2}])
    with pytest.raises(ContractError, match=r"reward_func 'nan-reward' \(plugin 'nanplug'.*returned nan at "
                                            r"position 0; rewards must be finite"):
        Engine(tiny_run_config, plugins=plugins).run()


def test_run_files_never_hold_bare_nan(tmp_path):
    with pytest.raises(ContractError, match="metrics.json: it would hold a NaN"):
        write_json(tmp_path / "metrics.json", {"accuracy": float("nan")})
    assert not list(tmp_path.iterdir())


# -- run files -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_run_files_follow_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        write_text_atomic(tmp_path / "run.json", "{}")
    finally:
        os.umask(old)
    assert (tmp_path / "run.json").stat().st_mode & 0o777 == mode


def test_a_full_disk_leaves_the_previous_file_and_no_temporary_one(tmp_path, monkeypatch):
    target = tmp_path / "metrics.json"
    write_json(target, {"accuracy": 0.5})

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", no_space)
    with pytest.raises(OSError, match="No space left"):
        write_json(target, {"accuracy": 0.9})
    assert _read(target) == {"accuracy": 0.5} and [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_an_unwritable_output_dir_is_refused_before_any_work(tmp_path, tiny_run_config, capsys, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    code, _, err = _cli(capsys, "run", "--config", _config_file(tmp_path, tiny_run_config),
                        "--set", f"output_dir={blocker}/runs")
    assert code == 2 and f"output_dir {blocker}/runs is not writable" in err
    import tempfile

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", read_only)
    with pytest.raises(UsageError, match="is not writable \\(Read-only file system\\)"):
        Engine(tiny_run_config).run()
    assert not any(Path(tiny_run_config["output_dir"]).iterdir())


def test_two_processes_with_the_same_run_name_never_share_a_directory(tmp_path, tiny_run_config):
    tiny_run_config["run_name"] = "shared"
    config = _config_file(tmp_path, tiny_run_config)
    procs = [subprocess.Popen([sys.executable, "-m", "gencls_core", "run", "--config", config], text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    loser = next(err for code, err in results if code == 2)
    assert "already exists and is not empty (or another run is using it)" in loser
    (run_dir,) = _run_dirs(tiny_run_config)
    assert _read(run_dir / "run.json")["status"] == "done"


def test_automatic_run_names_take_the_next_free_suffix(tiny_run_config, monkeypatch):
    import datetime

    class Frozen(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.datetime(2026, 1, 2, 3, 4, 5)

    monkeypatch.setattr("gencls_core.rundir._dt.datetime", Frozen)
    first, second = Engine(tiny_run_config).run(), Engine(tiny_run_config).run()
    assert first.run_dir.name == "20260102-030405-local-hf" and second.run_dir.name == first.run_dir.name + "-2"


# -- predicting from runs that did not finish -------------------------------------------------------------------
class _Interrupt:
    """Plugin whose trainer callback raises KeyboardInterrupt at ``step`` of stage ``stage``, after sleeping
    ``pause`` seconds in each step before."""

    def __init__(self, stage, step, pause=0.0):
        self.stage, self.step, self.pause = stage, step, pause

    @hookimpl
    def gencls_trainer_callbacks(self, ctx):
        from transformers import TrainerCallback

        outer = self

        class Stop(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                if ctx.stage_dir.name == outer.stage and state.global_step == outer.step:
                    raise KeyboardInterrupt
                time.sleep(outer.pause)

        return [Stop()]


def _interrupted_run(tiny_run_config, stage):
    tiny_run_config["trainers"] = [{"name": "sft", "max_steps": 2, "save_steps": 2},
                                   {"name": "sft", "max_steps": 4, "save_steps": 2}]
    plugins = load_plugins(modules=[(PluginInfo("stop", "tests", "stop-dist", "1"), _Interrupt(stage, 1))])
    with pytest.raises(KeyboardInterrupt):
        Engine(tiny_run_config, plugins=plugins).run()
    (run_dir,) = _run_dirs(tiny_run_config)
    return run_dir


def test_predict_refuses_an_unfinished_run_unless_allowed(tiny_run_config, capsys):
    run_dir = _interrupted_run(tiny_run_config, "2-sft")
    record = _read(run_dir / "run.json")
    assert record["status"] == "interrupted" and record["trained_model"] == "stages/1-sft/model"
    code, _, err = _cli(capsys, "predict", str(run_dir), "-")
    assert code == 2 and "has not finished (status interrupted" in err and "--allow-unfinished" in err
    engine = Engine.from_run_dir(run_dir, allow_unfinished=True)
    assert engine.trained_model == run_dir / "stages/1-sft/model"
    assert engine.predict(["good film"])[0].label in ("positive", "negative")


def test_an_unfinished_run_without_a_finished_stage_warns_that_the_model_is_untrained(tiny_run_config):
    run_dir = _interrupted_run(tiny_run_config, "1-sft")
    with pytest.warns(UserWarning, match="finished no training stage; using the untrained model"):
        engine = Engine.from_run_dir(run_dir, allow_unfinished=True)
    assert engine.trained_model is None


def test_a_missing_model_folder_is_named_not_looked_up_on_the_hub(tiny_run_config):
    import shutil

    tiny_run_config["trainers"] = [{"name": "sft", "max_steps": 1}]
    run_dir = Engine(tiny_run_config).run().run_dir
    shutil.rmtree(run_dir / "stages/1-sft/model")
    with pytest.raises(UsageError, match="trained model folder .*stages/1-sft/model recorded in run.json is missing"):
        Engine.from_run_dir(run_dir)


def test_a_relative_model_path_that_does_not_exist_is_not_a_hub_id(tiny_run_config):
    from gencls_core.errors import ModelError

    tiny_run_config["model"] = {"name": "hf", "path": "runs/x/stages/1-sft/model"}
    with pytest.raises(ModelError, match="model folder runs/x/stages/1-sft/model does not exist"):
        Engine(tiny_run_config).run()


# -- config and data errors, before any run directory exists ----------------------------------------------------
@pytest.mark.parametrize("override, message", [
    ("seed=-1", "seed: Input should be greater than or equal to 0"),
    ("seed=99999999999", "seed: Input should be less than or equal to 4294967295"),
    ("splits.test_size=0", "splits.test_size: Value error, 0: must be at least 1 example"),
    ("splits.test_size=-5", "splits.test_size: Value error, -5: must be at least 1"),
    ("splits.validation_size=1.5", "splits.validation_size: Value error, 1.5 is neither a count nor a fraction"),
    ("truncation.policy=drop", "truncation.policy: Input should be 'truncate' or 'error'"),
])
def test_bad_settings_exit_2_with_one_line_and_leave_no_run_directory(tmp_path, tiny_run_config, capsys,
                                                                      override, message):
    code, _, err = _cli(capsys, "run", "--config", _config_file(tmp_path, tiny_run_config), "--set", override)
    assert code == 2 and message in err and "Traceback" not in err
    assert not _run_dirs(tiny_run_config)


def test_a_split_larger_than_the_data_leaves_no_run_directory(tmp_path, tiny_run_config, capsys):
    code, _, err = _cli(capsys, "run", "--config", _config_file(tmp_path, tiny_run_config),
                        "--set", "splits.test_size=500")
    assert code == 1 and "splits.test_size=500: only 40 examples are available" in err
    assert not _run_dirs(tiny_run_config)


def test_a_class_with_one_example_is_split_without_stratification_and_said_so(tmp_path, tiny_run_config):
    path = Path(tiny_run_config["dataset"]["path"])
    with open(path, "a", newline="") as f:
        csv.writer(f).writerow(["a lone neutral text", "neutral"])
    with pytest.warns(UserWarning, match=r"class\(es\) 'neutral' \(1 example\) have too few examples to stratify"):
        result = Engine(tiny_run_config).run()
    assert result.metrics["n"] == 10


def test_a_latin1_csv_says_how_to_set_the_encoding(tmp_path, tiny_run_config):
    path = tmp_path / "latin1.csv"
    rows = "text,label\n" + "".join(f"caf\xe9 cr\xe8me {i},{'positive' if i % 2 else 'negative'}\n" for i in range(40))
    path.write_bytes(rows.encode("latin-1"))
    tiny_run_config["dataset"] = {"name": "local", "path": str(path)}
    with pytest.raises(DataError, match=r"latin1.csv is not utf-8 text \(byte 14: .*set dataset.encoding"):
        Engine(tiny_run_config).run()
    assert not _run_dirs(tiny_run_config)
    tiny_run_config["dataset"]["encoding"] = "latin-1"
    result = Engine(tiny_run_config).run()
    assert any("\xe9" in row["text"] for row in result.predictions)


def test_an_unexpected_exception_is_one_line_with_the_debug_hint_and_recorded(tmp_path, tiny_run_config, capsys,
                                                                           monkeypatch):
    class Broken(Decoder):
        name = "broken"

        def decode(self, lm, prompts, labels, ctx):
            raise RuntimeError("decoder exploded\nover two lines")

    plugins = _plugin("brokenplug", gencls_register_decoders=lambda register: register(Broken))
    tiny_run_config["decoder"] = "broken"
    with pytest.raises(RuntimeError):
        Engine(tiny_run_config, plugins=plugins).run()
    (run_dir,) = _run_dirs(tiny_run_config)
    assert _read(run_dir / "run.json")["error"] == "RuntimeError: decoder exploded\nover two lines"

    def explode(self):
        raise RuntimeError("decoder exploded\nover two lines")

    monkeypatch.setattr(Engine, "run", explode)
    del tiny_run_config["decoder"]
    code, _, err = _cli(capsys, "run", "--config", _config_file(tmp_path, tiny_run_config))
    assert code == 1
    assert err.strip() == "error: RuntimeError: decoder exploded over two lines (set GENCLS_DEBUG=1 for the traceback)"


# -- checkpoints and resume -------------------------------------------------------------------------------------
def test_resume_falls_back_past_a_half_written_checkpoint_and_keeps_the_whole_stage_loss_and_time(tiny_run_config):
    tiny_run_config["trainers"] = [{"name": "sft", "max_steps": 6, "save_steps": 2, "logging_steps": 1}]
    tiny_run_config["output_dir"] = str(Path(tiny_run_config["output_dir"]) / "whole")
    whole = Engine(tiny_run_config).run().stages[0]
    tiny_run_config["output_dir"] = str(Path(tiny_run_config["output_dir"]).parent / "cut")
    slow = _Interrupt("1-sft", 5, pause=0.5)  # steps 1-4, kept by checkpoint-4, take over 2 s
    plugins = load_plugins(modules=[(PluginInfo("stop", "tests", "stop-dist", "1"), slow)])
    with pytest.raises(KeyboardInterrupt):
        Engine(tiny_run_config, plugins=plugins).run()
    (run_dir,) = _run_dirs(tiny_run_config)
    started = _read(run_dir / "run.json")["started"]
    half = run_dir / "stages/1-sft/checkpoints/checkpoint-6"  # cut off while being written
    half.mkdir()
    (half / "model.safetensors").write_bytes(b"partial")
    time.sleep(1.1)  # so a resume time differs from the start time
    result = Engine.resume(run_dir).run()
    stage = result.stages[0]
    assert stage["train_resumed_from_step"] == 4 and stage["train_steps"] == 6
    assert stage["train_loss"] == pytest.approx(whole["train_loss"], rel=1e-3)  # not just the resumed steps'
    history = _read(run_dir / "stages/1-sft/log_history.json")
    seconds = [h["train_seconds"] for h in history]
    assert seconds == sorted(seconds) and stage["train_runtime_seconds"] == seconds[-1]
    # the kept steps' time (4 steps of over 0.5 s) is in the stage's time beside the resumed attempt's own, on a
    # quiet or a busy machine alike
    assert stage["train_runtime_seconds"] - history[-1]["train_runtime"] > 1.5
    record = _read(run_dir / "run.json")
    assert record["started"] == started and len(record["resumed"]) == 1 and record["resumed"][0] != started
    assert record["timings"]["train:trainers.0"] > 2.0 and record["timings"]["total"] > 2.0  # both attempts


def test_sigterm_interrupts_like_ctrl_c_with_status_and_resume_hint(tmp_path, tiny_run_config):
    tiny_run_config["trainers"] = [{"name": "sft", "max_steps": 5000, "save_steps": 5, "logging_steps": 5}]
    proc = subprocess.Popen([sys.executable, "-m", "gencls_core", "run", "--config",
                             _config_file(tmp_path, tiny_run_config)], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 600  # generous: a loaded machine starts torch slowly
    while time.time() < deadline and not list(Path(tiny_run_config["output_dir"]).glob("*/stages/1-sft/checkpoints/"
                                                                                        "checkpoint-*")):
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()[1]  # still training when the signal comes
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 143, err
    (run_dir,) = _run_dirs(tiny_run_config)
    assert f"interrupted by SIGTERM; continue with: gencls run --resume {run_dir}" in err
    record = _read(run_dir / "run.json")
    assert record["status"] == "interrupted" and record["error"] == "KeyboardInterrupt: SIGTERM"


# -- input length -----------------------------------------------------------------------------------------------
def _with_long_text(tiny_run_config, words, where="test"):
    path = Path(tiny_run_config["dataset"]["path"])
    rows = list(csv.reader(open(path)))
    long_text = " ".join(["good"] + ["the film was a story"] * (words // 5))
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerows(rows)
        writer.writerow([long_text, "positive"])
    return long_text


def test_an_over_long_text_is_truncated_to_the_context_and_counted(tiny_run_config, tiny_model_dir):
    from transformers import AutoTokenizer

    long_text = _with_long_text(tiny_run_config, 20000)
    tiny_run_config["splits"] = {"test_size": 41}  # every row, the long one included
    with pytest.warns(UserWarning, match="1 of 41 texts were truncated to fit a 448-token prompt"):
        result = Engine(tiny_run_config).run()
    assert result.metrics["truncated"] == 1
    row = next(r for r in result.predictions if r["text"] == long_text)
    assert row["predicted"] in ("positive", "negative")
    engine = Engine(tiny_run_config)
    (rendered,) = engine.render_prompts([long_text])
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert 400 < len(tok(rendered, add_special_tokens=False)["input_ids"]) <= 512 - 64
    assert rendered.startswith("<|im_start|>user\nClassify the sentiment of the text.")  # the instructions stay
    assert rendered.endswith("<|im_end|>\n<|im_start|>assistant\n")


def test_truncation_policy_error_names_the_row(tiny_run_config):
    _with_long_text(tiny_run_config, 3000)
    tiny_run_config.update(splits={"test_size": 41}, truncation={"policy": "error"})
    with pytest.raises(DataError, match=r"input \d+: the prompt is \d+ tokens, over the limit of 448"):
        Engine(tiny_run_config).run()


def test_training_fits_long_texts_the_same_way(tiny_run_config):
    _with_long_text(tiny_run_config, 3000)
    tiny_run_config.update(splits={"test_size": 4}, truncation={"max_prompt_tokens": 120},
                           trainers=[{"name": "sft", "max_steps": 1, "batch_size": 64}])
    result = Engine(tiny_run_config).run()
    assert result.stages[0]["train_truncated_prompts"] == 1


def test_fitting_cuts_the_text_only(tiny_model_dir):
    from transformers import AutoTokenizer

    from gencls_core.chat import render_prompt
    from gencls_core.truncation import PromptFitter

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)

    def build(text):
        return [{"role": "system", "content": "Answer positive or negative."}, {"role": "user", "content": text}]

    fitter = PromptFitter(tok, limit=40)
    short = fitter.messages("good film", build, "row 0")
    assert short == build("good film") and fitter.truncated == 0
    long = "good " + "the plot was really quite dull " * 50
    cut = fitter.messages(long, build, "row 1")
    assert cut[0] == build("x")[0] and cut[1]["content"].startswith("good the plot")
    again = PromptFitter(tok, limit=40)  # the head of the text the prompt keeps, counted alike
    assert again.head(long, build, "row 1") == cut[1]["content"] and again.head("good film", build, "") == "good film"
    assert again.truncated == 1
    assert len(tok(render_prompt(tok, cut), add_special_tokens=False)["input_ids"]) <= 40 and fitter.truncated == 1
    with pytest.raises(DataError, match="row 2: the prompt is over the limit of 5 tokens even without the text"):
        PromptFitter(tok, limit=5).messages("good film", build, "row 2")
    huge = "good film " * 1_000_000  # 10 MB: cut to 40 x 64 characters before it is tokenized
    started = time.time()
    cut = fitter.messages(huge, build, "row 3")
    assert time.time() - started < 10 and fitter.truncated == 2
    assert len(tok(render_prompt(tok, cut), add_special_tokens=False)["input_ids"]) <= 40
    with pytest.raises(DataError, match="row 4: the text has 10000000 characters, far over the limit of 40"):
        PromptFitter(tok, limit=40, policy="error").messages(huge, build, "row 4")


# -- plugins ----------------------------------------------------------------------------------------------------
def test_a_third_party_plugin_named_like_a_builtin_is_listed_broken_and_fails_only_when_named(
        tmp_path, monkeypatch, tiny_run_config, capsys):
    from gencls_core.testing.distributions import DECODER_PLUGIN
    from tests.fakedist import install_fake_plugin

    module = install_fake_plugin(tmp_path / "site", monkeypatch, plugin="decoders", dist="gencls-plugin-clash",
                                 source=DECODER_PLUGIN.format(name="clash-decoder"))
    assert Engine(tiny_run_config).run().metrics["n"] == 10  # the built-in 'decoders' plugin is used
    assert module not in sys.modules  # and the shadowed one never imported
    code, out, _ = _cli(capsys, "plugins", "list")
    assert code == 0 and "BROKEN  decoders (gencls-plugin-clash 1.0): its entry-point name 'decoders' is already used" \
                          in out and "perplexity" in out
    with pytest.raises(PluginLoadError, match="plugin 'decoders' is provided by several installed "
                                                     "distributions \\(gencls .*, gencls-plugin-clash 1.0\\)"):
        load_plugins(["decoders"])


# -- asset cache ------------------------------------------------------------------------------------------------
def test_a_changed_extracted_file_is_extracted_again(local_index):
    from gencls_core.assets import extract
    from tests.fakedist import build_wheel

    wheel = build_wheel(local_index, "demo-assets", "1.2", {"demo_assets/data.txt": "hello"})
    path = extract(wheel, "demo_assets/data.txt")
    path.write_text("tampered")
    with pytest.warns(UserWarning, match="do not match their recorded checksums \\(demo_assets/data.txt\\); "
                                         "extracting them again"):
        again = extract(wheel, "demo_assets/data.txt")
    assert again.read_text() == "hello"
