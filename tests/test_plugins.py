"""Discovery through real entry points, and every plugin error path."""

import json
import subprocess
import sys

import pytest

from gencls_core.errors import DuplicateComponent, PluginLoadError, PluginNotFound
from gencls_core.plugins import installed_plugins, load_plugins
from gencls_core.testing.distributions import DECODER_PLUGIN
from tests.fakedist import install_fake_plugin

BUILTIN_COMPONENTS = {
    ("model_source", "hf"), ("model_source", "gguf"), ("model_source", "smollm2-135m-instruct"),
    ("dataset", "local"), ("dataset", "hf-dataset"), ("dataset", "movie-reviews"), ("dataset", "bbc-news"),
    ("dataset", "drug-reviews"), ("dataset", "trec-questions"),
    ("label_scheme", "names"), ("prompt_strategy", "zero-shot"), ("decoder", "generate"),
    ("decoder", "perplexity"), ("evaluator", "accuracy"), ("evaluator", "f1"),
}


def test_builtins_come_from_entry_points_of_the_gencls_distribution(gencls_plugins):
    found = {(e.kind, e.name) for e in gencls_plugins.registry.entries()}
    assert BUILTIN_COMPONENTS <= found
    for entry in gencls_plugins.registry.entries():
        assert entry.plugin.distribution == "gencls"
        assert entry.component.__module__.startswith(f"gencls_plugins.{entry.plugin.name}")


def test_each_test_gets_a_fresh_plugin_manager(gencls_plugins):
    other = load_plugins()
    assert other.pm is not gencls_plugins.pm
    assert other.registry is not gencls_plugins.registry


def test_named_third_party_plugin_is_loaded_with_its_distribution(tmp_path, monkeypatch):
    install_fake_plugin(tmp_path, monkeypatch, plugin="first", dist="gencls-plugin-first", version="2.3",
                        source=DECODER_PLUGIN.format(name="first-label"))
    plugins = load_plugins(["first"])
    entry = plugins.registry.get("decoder", "first-label")
    assert (entry.plugin.name, entry.plugin.distribution, entry.plugin.version) == \
        ("first", "gencls-plugin-first", "2.3")
    assert [p.name for p in plugins.loaded][-1] == "first"


def test_unnamed_third_party_plugin_is_not_imported(tmp_path, monkeypatch):
    module = install_fake_plugin(tmp_path, monkeypatch, plugin="first", dist="gencls-plugin-first",
                                 source=DECODER_PLUGIN.format(name="first-label"))
    plugins = load_plugins()
    assert "first" in installed_plugins()
    assert module not in sys.modules
    assert "first-label" not in plugins.registry.names("decoder")


def test_unknown_plugin_names_installed_ones_close_matches_and_pip_hint(tmp_path, monkeypatch):
    install_fake_plugin(tmp_path, monkeypatch, plugin="sample", dist="gencls-plugin-sample",
                        source=DECODER_PLUGIN.format(name="x"))
    with pytest.raises(PluginNotFound) as err:
        load_plugins(["sampel"])
    msg = str(err.value)
    assert "'sampel' is not installed" in msg
    assert "did you mean 'sample'" in msg
    assert "Installed third-party plugins: " in msg and "sample" in msg.split("Installed third-party plugins: ")[1]
    assert "pip install gencls-plugin-sampel" in msg
    assert err.value.exit_code == 2


def test_named_plugin_that_fails_to_import_names_plugin_and_distribution(tmp_path, monkeypatch):
    install_fake_plugin(tmp_path, monkeypatch, plugin="broken", dist="gencls-plugin-broken", version="0.9",
                        source="import not_a_real_module_xyz\n")
    with pytest.raises(PluginLoadError) as err:
        load_plugins(["broken"])
    msg = str(err.value)
    assert "plugin 'broken' (distribution gencls-plugin-broken 0.9) failed to import" in msg
    assert "not_a_real_module_xyz" in msg
    assert isinstance(err.value.__cause__, ModuleNotFoundError)


def test_broken_unnamed_plugin_does_not_stop_runs_and_is_listed_as_broken(tmp_path, monkeypatch):
    install_fake_plugin(tmp_path, monkeypatch, plugin="broken", dist="gencls-plugin-broken",
                        source="raise RuntimeError('boom')\n")
    assert "broken" not in [p.name for p in load_plugins().loaded]
    listed = load_plugins(all_installed=True)
    info, why = listed.broken["broken"]
    assert info.distribution == "gencls-plugin-broken"
    assert "RuntimeError: boom" in why
    assert BUILTIN_COMPONENTS <= {(e.kind, e.name) for e in listed.registry.entries()}


def test_duplicate_component_names_both_plugins(tmp_path, monkeypatch):
    install_fake_plugin(tmp_path, monkeypatch, plugin="one", dist="gencls-plugin-one",
                        source=DECODER_PLUGIN.format(name="same"))
    install_fake_plugin(tmp_path, monkeypatch, plugin="two", dist="gencls-plugin-two",
                        source=DECODER_PLUGIN.format(name="same"))
    with pytest.raises(DuplicateComponent) as err:
        load_plugins(["one", "two"])
    msg = str(err.value)
    assert "decoder 'same'" in msg and "gencls-plugin-one" in msg and "gencls-plugin-two" in msg


def test_clash_with_a_builtin_name_is_an_error(tmp_path, monkeypatch):
    install_fake_plugin(tmp_path, monkeypatch, plugin="clash", dist="gencls-plugin-clash",
                        source=DECODER_PLUGIN.format(name="perplexity"))
    with pytest.raises(DuplicateComponent, match="plugin 'decoders' .*plugin 'clash'"):
        load_plugins(["clash"])


@pytest.mark.parametrize("plugin, source, problem", [
    ("typo", "@hookimpl\ndef gencls_register_decoderz(register):\n    pass\n",
     "gencls_register_decoderz"),  # a misspelled hook
    ("argname", "@hookimpl\ndef gencls_register_decoders(registr):\n    pass\n", "registr"),  # a wrong argument
    ("badcfg", "class NoConfig(Decoder):\n    name = 'no-config'\n    Config = dict\n\n"
               "@hookimpl\ndef gencls_register_decoders(register):\n    register(NoConfig)\n",
     "gencls-plugin-badcfg.*Config must be a pydantic"),
    ("abstract", "class Half(Decoder):\n    name = 'half'\n\n"
                 "@hookimpl\ndef gencls_register_decoders(register):\n    register(Half)\n",
     "Half does not implement decode"),
])
def test_a_broken_plugin_fails_at_load_naming_itself(tmp_path, monkeypatch, plugin, source, problem):
    install_fake_plugin(tmp_path, monkeypatch, plugin=plugin, dist=f"gencls-plugin-{plugin}",
                        source="from gencls_core import hookimpl, Decoder\n\n" + source)
    with pytest.raises(PluginLoadError, match=f"plugin '{plugin}' .*{problem}"):
        load_plugins([plugin])


def test_register_hook_that_raises_is_attributed_to_its_plugin(tmp_path, monkeypatch):
    install_fake_plugin(tmp_path, monkeypatch, plugin="raiser", dist="gencls-plugin-raiser", source='''
        from gencls_core import hookimpl

        @hookimpl
        def gencls_register_decoders(register):
            raise RuntimeError("cannot register today")
    ''')
    with pytest.raises(PluginLoadError, match="plugin 'raiser' .*RuntimeError: cannot register today"):
        load_plugins(["raiser"])
    assert "raiser" in load_plugins(all_installed=True).broken


def _run_python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_import_listing_and_help_do_not_import_torch():
    out = _run_python(
        "import sys, io, contextlib, json\n"
        "import gencls_core\n"
        "after_import = 'torch' in sys.modules\n"
        "from gencls_core.cli import main\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n"
        "    main(['plugins', 'list', '--json'])\n"
        "    try:\n"
        "        main(['run', '--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "rows = json.loads(buf.getvalue().split('Usage:')[0])\n"
        "print(json.dumps({'after_import': after_import, 'after_list': 'torch' in sys.modules, 'rows': len(rows)}))\n")
    result = json.loads(out.strip().splitlines()[-1])
    assert result == {"after_import": False, "after_list": False, "rows": result["rows"]}
    assert result["rows"] >= len(BUILTIN_COMPONENTS)


def test_plugins_list_json_rows(tmp_path):
    done = subprocess.run([sys.executable, "-m", "gencls_core", "plugins", "list", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert {(r["kind"], r["name"]) for r in rows if r["status"] == "ok"} >= BUILTIN_COMPONENTS
    for r in rows:
        assert {"kind", "name", "plugin", "distribution", "version"} <= set(r)


def test_no_name_leaves_a_plugin_out_and_an_unknown_one_is_an_error():
    loaded = [p.name for p in load_plugins(["no:decoders"]).loaded]
    assert "decoders" not in loaded and "labels" in loaded
    with pytest.raises(PluginNotFound, match=r"cannot leave out plugin 'decoderz' \(no:decoderz\).*did you mean"):
        load_plugins(["no:decoderz"])
