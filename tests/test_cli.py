"""The gencls command line, run as a user would (subprocesses)."""

import json
import os
import subprocess
import sys

import yaml

from gencls_core.testing.distributions import DECODER_PLUGIN
from tests.fakedist import install_fake_plugin


def gencls(*args, stdin=None, env=None):
    return subprocess.run([sys.executable, "-m", "gencls_core", *args], input=stdin, capture_output=True,
                          text=True, timeout=300, env={**os.environ, **(env or {})})


def _config_file(tmp_path, cfg):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_run_prints_metrics_and_predict_reads_stdin(tmp_path, tiny_run_config):
    done = gencls("run", "--config", str(_config_file(tmp_path, tiny_run_config)), "--set", "seed=1")
    assert done.returncode == 0, done.stderr
    assert "| accuracy" in done.stdout and "| f1_macro" in done.stdout and "| wall_seconds" in done.stdout
    run_dir = done.stdout.strip().splitlines()[-1].removeprefix("run directory: ")
    assert json.loads(open(os.path.join(run_dir, "run.json")).read())["seed"] == 1
    pred = gencls("predict", run_dir, "-", stdin="the film was good\n\nawful plot\n")
    assert pred.returncode == 0, pred.stderr
    rows = [json.loads(line) for line in pred.stdout.splitlines()]
    assert [r["text"] for r in rows] == ["the film was good", "awful plot"]
    assert all(r["label"] in ("negative", "positive") for r in rows)


def test_predict_writes_jsonl_output_file(tmp_path, tiny_run_config):
    done = gencls("run", "--config", str(_config_file(tmp_path, tiny_run_config)))
    run_dir = done.stdout.strip().splitlines()[-1].removeprefix("run directory: ")
    texts = tmp_path / "in.jsonl"
    texts.write_text('{"text": "good film", "ticket": 7}\n{"text": "bad film", "ticket": 9}\n')
    out = tmp_path / "out.jsonl"
    pred = gencls("predict", run_dir, str(texts), "-o", str(out))
    assert pred.returncode == 0, pred.stderr
    assert len(out.read_text().splitlines()) == 2
    pred = gencls("predict", run_dir, str(texts), "--min-probability", "1")  # nothing is that sure: all abstain
    assert pred.returncode == 0, pred.stderr
    assert [(r["label"], r["status"]) for r in map(json.loads, pred.stdout.splitlines())] == [(None, "abstained")] * 2
    table = tmp_path / "out.csv"
    pred = gencls("predict", run_dir, str(texts), "-o", str(table), "--batch-size", "1", "--id-column", "ticket")
    assert pred.returncode == 0, pred.stderr
    header, *lines = table.read_text().splitlines()
    assert header == "line,id,text,label,status,truncated,windows,p_negative,p_positive" and len(lines) == 2
    assert lines[0].startswith("1,7,good film,") and abs(sum(float(x) for x in lines[0].split(",")[-2:]) - 1) < 1e-6
    pred = gencls("predict", run_dir, "-", "--id-column", "ticket")
    assert pred.returncode != 0 and "plain text, which has no columns" in pred.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"txt": "x"}\n')
    pred = gencls("predict", run_dir, str(bad))
    assert pred.returncode == 1 and 'bad.jsonl line 1: expected a JSON object with a "text" field' in pred.stderr


def test_training_run_prints_the_stage_table_and_resume_refuses_a_finished_run(tmp_path, tiny_run_config):
    tiny_run_config.update(evaluate_untrained=True, trainers=[{"name": "sft", "max_steps": 2}])
    done = gencls("run", "--config", str(_config_file(tmp_path, tiny_run_config)))
    assert done.returncode == 0, done.stderr
    assert "| stage | trainer | train_steps | train_loss | accuracy |" in done.stdout
    assert "| 1 | sft | 2 |" in done.stdout
    run_dir = done.stdout.strip().splitlines()[-1].removeprefix("run directory: ")
    again = gencls("run", "--resume", run_dir)
    assert again.returncode == 2 and "finished already" in again.stderr
    mixed = gencls("run", "--resume", run_dir, "--set", "seed=1")
    assert mixed.returncode == 2 and "--resume uses the run's recorded config" in mixed.stderr


def test_define_writes_editable_definitions_that_a_run_can_use(tmp_path, tiny_run_config):
    config = str(_config_file(tmp_path, tiny_run_config))
    out = tmp_path / "defs.yaml"
    done = gencls("define", "--config", config, "-o", str(out), "-k", "1", "--max-new-tokens", "3")
    assert done.returncode == 0, done.stderr
    drafts = yaml.safe_load(out.read_text())
    assert sorted(drafts) == ["negative", "positive"] and out.read_text().startswith("# Category definitions")
    again = gencls("define", "--config", config, "-o", str(out))
    assert again.returncode == 2 and "pass --force" in again.stderr
    shown = gencls("config", "prompt", "--config", config, "--set", f"prompt.definitions={out}", "good film")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("<|im_start|>user\n") and "\nDefinitions:\n- negative: " in shown.stdout
    assert shown.stdout.rstrip().endswith("Text: good film<|im_end|>\n<|im_start|>assistant")
    run = gencls("run", "--config", config, "--set", f"prompt.definitions={out}")
    assert run.returncode == 0, run.stderr


def test_unknown_plugin_exits_2_with_hint():
    done = gencls("run", "--plugins", "nope")
    assert done.returncode == 2
    assert "plugin 'nope' is not installed" in done.stderr and "pip install gencls-plugin-nope" in done.stderr
    assert "Traceback" not in done.stderr


def test_config_typo_exits_2_and_debug_shows_traceback(tmp_path):
    done = gencls("config", "show", "--set", "decoder.batch_sise=3")
    assert done.returncode == 2
    assert "decoder.batch_sise: unknown key (did you mean 'batch_size'?)" in done.stderr
    debug = gencls("config", "show", "--set", "decoder.batch_sise=3", env={"GENCLS_DEBUG": "1"})
    assert debug.returncode == 2 and "Traceback" in debug.stderr


def test_config_show_prints_the_resolved_config():
    done = gencls("config", "show", "--set", "decoder=generate")
    assert done.returncode == 0, done.stderr
    shown = yaml.safe_load(done.stdout)
    assert shown["decoder"] == {"name": "generate", "batch_size": 8, "max_new_tokens": 16, "constrained": False,
                                "shared_prefix": True}
    assert shown["model"] == {"name": "smollm2-135m-instruct", "dtype": "auto"}
    assert shown["inference_prompt"]["name"] == "zero-shot"


def test_every_command_has_help():
    for args in (["--help"], ["run", "--help"], ["predict", "--help"], ["plugins", "list", "--help"],
                 ["config", "show", "--help"]):
        done = gencls(*args)
        assert done.returncode == 0 and "Usage:" in done.stdout, args


def test_third_party_plugin_fills_a_slot_and_adds_a_command(tmp_path, tiny_run_config, monkeypatch):
    site = tmp_path / "site"
    install_fake_plugin(site, monkeypatch, plugin="first", dist="gencls-plugin-first", version="0.3",
                        source=DECODER_PLUGIN.format(name="first-label") + '''

@hookimpl
def gencls_register_commands(cli):
    @cli.command()
    def hello():
        """Say hello from a plugin."""
        print("hello from first")
''')
    env = {"PYTHONPATH": f"{site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    done = gencls("run", "--config", str(_config_file(tmp_path, tiny_run_config)), "--plugins", "first", env=env)
    assert done.returncode == 0, done.stderr
    run_dir = done.stdout.strip().splitlines()[-1].removeprefix("run directory: ")
    record = json.loads(open(os.path.join(run_dir, "run.json")).read())
    decoder = next(c for c in record["components"] if c["slot"] == "decoder")
    assert (decoder["name"], decoder["distribution"], decoder["version"]) == \
        ("first-label", "gencls-plugin-first", "0.3")
    assert {"name": "first", "distribution": "gencls-plugin-first", "version": "0.3"} in record["plugins"]
    hello = gencls("hello", env={**env, "GENCLS_PLUGINS": "first"})
    assert hello.returncode == 0 and hello.stdout.strip() == "hello from first"
    assert gencls("hello", env=env).returncode == 2  # not named: not loaded


def test_plugins_show_prints_a_components_option_table_and_docs_check_finds_stale_tables(tmp_path):
    done = gencls("plugins", "show", "decoder", "perplexity")
    assert done.returncode == 0, done.stderr
    assert "plugin 'decoders' (distribution gencls" in done.stdout and "| `batch_size` | 8 |" in done.stdout
    bad = gencls("plugins", "show", "decoders", "perplexity")
    assert bad.returncode == 2 and "'decoders' is not a kind" in bad.stderr
    (tmp_path / "guide.md").write_text("<!-- options: decoder generate -->\n| old |\n<!-- /options -->\n")
    stale = gencls("plugins", "docs", "--check", str(tmp_path))
    assert stale.returncode == 1 and "guide.md" in stale.stdout and "options.md" in stale.stdout
    assert gencls("plugins", "docs", str(tmp_path)).returncode == 0
    assert "| `max_new_tokens` |" in (tmp_path / "guide.md").read_text()
    assert gencls("plugins", "docs", "--check", str(tmp_path)).returncode == 0


def test_the_command_line_hides_the_libraries_notices_of_their_own_deprecations(monkeypatch):
    import warnings

    from gencls_core.verbosity import DEBUG_ENV, quiet_libraries

    def raised_in(module):
        with warnings.catch_warnings(record=True) as seen:
            warnings.warn_explicit("x is deprecated", FutureWarning, "f.py", 1, module=module)
        return len(seen)

    with warnings.catch_warnings():
        monkeypatch.delenv(DEBUG_ENV, raising=False)
        quiet_libraries()
        assert raised_in("transformers.modeling_utils") == 0 and raised_in("trl.trainer.utils") == 0
        assert raised_in("torch.nn.modules.module") == 0  # a model forward's notice, raised through Module.__call__
        assert raised_in("gencls_core.engine") == 1 and raised_in("transformersx") == 1


def test_training_and_loading_hide_the_libraries_deprecation_notices_only_while_they_run(monkeypatch):
    """The Engine API (no quiet_libraries) still hides transformers' notices raised inside a trainer or a model
    load, and leaves the caller's warning filters as they were; GENCLS_DEBUG shows them."""
    import warnings

    from gencls_core.verbosity import DEBUG_ENV, library_notices_off

    def raised_in(module):
        with warnings.catch_warnings(record=True) as seen:
            warnings.warn_explicit("x is deprecated", FutureWarning, "f.py", 1, module=module)
        return len(seen)

    monkeypatch.delenv(DEBUG_ENV, raising=False)
    with warnings.catch_warnings():
        filters = list(warnings.filters)
        with library_notices_off():
            assert raised_in("transformers.modeling_utils") == 0 and raised_in("gencls_core.engine") == 1
        assert warnings.filters == filters and raised_in("transformers.modeling_utils") == 1
        monkeypatch.setenv(DEBUG_ENV, "1")
        with library_notices_off():
            assert raised_in("transformers.modeling_utils") == 1
