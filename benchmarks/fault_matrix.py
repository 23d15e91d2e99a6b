"""The bad-input and fault matrix of issues 12 and 32, through the CLI on the tiny model: one markdown row per
case (exit code, what the user sees on stderr, what is left in the output folder).

    python benchmarks/fault_matrix.py [CASE ...]

Each case runs in a fresh folder under a temporary directory; nothing here is timed.
"""

import csv
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from gencls_core.testing.distributions import DECODER_PLUGIN, write_plugin_distribution
from gencls_core.testing.tiny import make_tiny_model, write_tiny_csv

ROOT = Path(tempfile.mkdtemp(prefix="matrix-"))
MODEL = make_tiny_model(ROOT / "model")
PY = sys.executable


def gencls(*args, env=None, stdin=None, timeout=600):
    return subprocess.run(
        [PY, "-m", "gencls_core", *args],
        capture_output=True,
        text=True,
        input=stdin,
        env={**os.environ, "GENCLS_CACHE": str(ROOT / "cache"), **(env or {})},
        timeout=timeout,
    )


def base(folder, **extra):
    folder.mkdir(parents=True, exist_ok=True)
    csvp = write_tiny_csv(folder / "tiny.csv")
    cfg = {
        "output_dir": str(folder / "runs"),
        "progress": False,
        "model": {"name": "hf", "path": str(MODEL)},
        "dataset": {"name": "local", "path": str(csvp), "task": "Classify the sentiment of the text."},
        "splits": {"test_size": 10},
        **extra,
    }
    return cfg


def cfgfile(folder, cfg):
    p = folder / "run.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return str(p)


def left(folder):
    runs = folder / "runs"
    if not runs.is_dir():
        return "no run dir"
    out = []
    for d in sorted(runs.iterdir()):
        try:
            st = json.loads((d / "run.json").read_text()).get("status")
        except Exception:
            st = "unreadable run.json" if (d / "run.json").exists() else "no run.json"
        out.append(f"{st}")
    return "run dir: " + ", ".join(out) if out else "empty runs/"


NOISE = (
    "Generating",
    "Map",
    "Casting",
    "Loading",
    "Tokenizing",
    "Building",
    "Truncating",
    "Dropping",
    "Writing",
    "  warnings.warn",
    "{",
    "Extracting",
    "Adding EOS",
    "Applying chat",
    "Filter",
)


def msg(done):
    raw = [
        line
        for line in done.stderr.splitlines()
        if line.strip()
        and not line.lstrip("\r").startswith(NOISE)
        and "Warning: `" not in line
        and "FutureWarning" not in line
    ]
    mine, follow = [], False
    for line in raw:
        if line.startswith(("error", "warning", "interrupted")):
            mine.append(line.strip())
            follow = True
        elif follow and line.startswith("  "):
            mine.append(line.strip())
        else:
            follow = False
    pick = mine or [line.strip() for line in raw[-1:]] or ["(nothing)"]
    text = " / ".join(pick)[:260]
    return f"{text} [{len(done.stderr.splitlines())} stderr lines]"


def row(case, done, folder, note=""):
    print(f"| {case} | {done.returncode} | {msg(done)} | {left(folder)}{note} |", flush=True)


def start_run(folder, cfg):
    """``gencls run`` in the background, output captured as text."""
    return subprocess.Popen(
        [PY, "-m", "gencls_core", "run", "--config", cfgfile(folder, cfg)],
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "GENCLS_CACHE": str(ROOT / "cache")},
    )


def wait_for_checkpoints(folder, n, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline and len(list((folder / "runs").glob("*/stages/1-sft/checkpoints/checkpoint-*"))) < n:
        time.sleep(0.2)


def killed_after_checkpoints(folder, cfg, n):
    """A training run killed (-9) once it has written ``n`` checkpoints; its run directory."""
    p = start_run(folder, cfg)
    wait_for_checkpoints(folder, n)
    p.kill()
    p.wait()
    return next((folder / "runs").iterdir())


def case_seed():
    f = ROOT / "seed"
    c = base(f)
    row("`--set seed=-1`", gencls("run", "--config", cfgfile(f, c), "--set", "seed=-1"), f)


def case_single_class():
    f = ROOT / "single"
    c = base(f)
    with open(c["dataset"]["path"], "a", newline="") as h:
        csv.writer(h).writerow(["a lone neutral text", "neutral"])
    row("a class with 1 example, stratified split", gencls("run", "--config", cfgfile(f, c)), f)


def case_unwritable():
    f = ROOT / "unwritable"
    c = base(f)
    (f / "afile").write_text("x")
    c["output_dir"] = str(f / "afile" / "runs")
    row("output_dir under a file (unwritable)", gencls("run", "--config", cfgfile(f, c)), f)


def case_splits(v):
    f = ROOT / f"split{v}"
    c = base(f)
    row(f"`splits.test_size={v}`", gencls("run", "--config", cfgfile(f, c), "--set", f"splits.test_size={v}"), f)


def case_latin1():
    f = ROOT / "latin1"
    c = base(f)
    p = f / "latin1.csv"
    p.write_bytes(
        ("text,label\n" + "".join(f"caf\xe9 {i},{'positive' if i % 2 else 'negative'}\n" for i in range(40))).encode(
            "latin-1"
        )
    )
    c["dataset"] = {"name": "local", "path": str(p)}
    row("latin-1 CSV", gencls("run", "--config", cfgfile(f, c)), f)


def case_diverge():
    f = ROOT / "diverge"
    c = base(
        f,
        trainers=[
            {"name": "sft", "lora": None, "max_steps": 6, "learning_rate": 1e6, "save_steps": 1, "logging_steps": 1}
        ],
    )
    d = gencls("run", "--config", cfgfile(f, c))
    runs = list((f / "runs").glob("*/predictions.jsonl"))
    note = ""
    if runs:
        txt = runs[0].read_text()
        note = f"; predictions.jsonl {'has bare NaN' if 'NaN' in txt else 'written'}"
    ck = sorted(p.name for p in (f / "runs").glob("*/stages/1-sft/checkpoints/checkpoint-*"))
    row("SFT with learning rate 1e6", d, f, note + f"; checkpoints {ck}")


def case_predict_killed():
    f = ROOT / "killed"
    c = base(f, trainers=[{"name": "sft", "max_steps": 2000, "save_steps": 50}])
    run_dir = killed_after_checkpoints(f, c, 1)
    row("`predict` on a run killed (-9) mid-training", gencls("predict", str(run_dir), "-", stdin="good film\n"), f)
    return run_dir


def case_missing_model():
    f = ROOT / "missing"
    c = base(f, trainers=[{"name": "sft", "max_steps": 1}])
    gencls("run", "--config", cfgfile(f, c))
    run_dir = next((f / "runs").iterdir())
    shutil.rmtree(run_dir / "stages/1-sft/model")
    row("`predict` on a run whose model folder is missing", gencls("predict", str(run_dir), "-", stdin="good\n"), f)


def case_long(words, policy=None):
    f = ROOT / f"long{words}{policy}"
    c = base(f, splits={"test_size": 41})
    if policy:
        c["truncation"] = {"policy": policy}
    with open(c["dataset"]["path"], "a", newline="") as h:
        csv.writer(h).writerow([" ".join(["good"] + ["the film was a story"] * (words // 5)), "positive"])
    t = time.time()
    d = gencls("run", "--config", cfgfile(f, c))
    extra = ""
    m = list((f / "runs").glob("*/metrics.json"))
    if m:
        extra = f"; truncated={json.loads(m[0].read_text()).get('truncated')}"
    row(
        f"a {words}-word text (~{words * 4 // 1000} KB) in the test split{', policy error' if policy else ''}",
        d,
        f,
        f"{extra}; {time.time() - t:.0f} s",
    )


def case_sigterm():
    f = ROOT / "sigterm"
    c = base(f, trainers=[{"name": "sft", "max_steps": 5000, "save_steps": 5}])
    p = start_run(f, c)
    wait_for_checkpoints(f, 1)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate()
    row("SIGTERM during training", subprocess.CompletedProcess([], p.returncode, out, err), f)


def case_half_checkpoint():
    f = ROOT / "half"
    c = base(f, trainers=[{"name": "sft", "max_steps": 400, "save_steps": 2}])
    run_dir = killed_after_checkpoints(f, c, 2)
    cks = sorted((run_dir / "stages/1-sft/checkpoints").glob("checkpoint-*"), key=lambda q: int(q.name.split("-")[1]))
    half = cks[-1].with_name(f"checkpoint-{int(cks[-1].name.split('-')[1]) + 2}")
    half.mkdir(exist_ok=True)
    (half / "model.safetensors").write_bytes(b"partial")
    (half / "trainer_state.json").unlink(missing_ok=True)
    row("`--resume` with a half-written newest checkpoint", gencls("run", "--resume", str(run_dir)), f)


def case_pickle():
    f = ROOT / "pickle"
    c = base(
        f,
        trainers=[
            {
                "name": "ppo",
                "max_steps": 2,
                "save_steps": 1,
                "batch_size": 4,
                "mini_batch_size": 2,
                "max_completion_length": 2,
            }
        ],
    )
    d = gencls("run", "--config", cfgfile(f, c))
    run_dir = next((f / "runs").iterdir())
    (run_dir / "stages/1-ppo/checkpoints/checkpoint-2").rename(run_dir / "stages/1-ppo/gone")
    (run_dir / "stages/1-ppo/stage.json").unlink()
    rec = json.loads((run_dir / "run.json").read_text())
    rec["status"] = "failed"
    (run_dir / "run.json").write_text(json.dumps(rec))
    marker = f / "PWNED"
    state = run_dir / "stages/1-ppo/checkpoints/checkpoint-1/trainer_state.pt"
    payload = (
        f"import os, pickle\nclass P:\n    def __reduce__(self): return (os.system, ('touch {marker}',))\n"
        f"pickle.dump({{'optimizer': P()}}, open('{state}', 'wb'), protocol=2)\n"
    )
    subprocess.run([PY, "-c", payload], check=True)
    d = gencls("run", "--resume", str(run_dir))
    row(
        "PPO `trainer_state.pt` replaced by a pickle payload, then `--resume`",
        d,
        f,
        f"; payload ran: {marker.exists()}",
    )


def case_concurrent():
    f = ROOT / "concurrent"
    c = base(f, run_name="same")
    cf = cfgfile(f, c)
    ps = [
        subprocess.Popen(
            [PY, "-m", "gencls_core", "run", "--config", cf],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "GENCLS_CACHE": str(ROOT / "cache")},
        )
        for _ in range(2)
    ]
    res = [(p.wait(), p.communicate()) for p in ps]
    codes = [r[0] for r in res]
    errs = [r[1][1] for r in res]
    worst = max(range(2), key=lambda i: codes[i])
    row(
        f"two runs with the same `run_name` at once (exit codes {codes})",
        subprocess.CompletedProcess([], codes[worst], "", errs[worst]),
        f,
    )


def case_umask():
    f = ROOT / "umask"
    c = base(f)
    old = os.umask(0o022)
    d = gencls("run", "--config", cfgfile(f, c))
    os.umask(old)
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in next((f / "runs").iterdir()).glob("*.json")}
    row("file modes under umask 022", d, f, f"; {modes}")


def fake_plugin(folder, plugin, dist, module, source):
    """A folder holding ``module`` and a dist-info declaring it as gencls plugin ``plugin``; the env to see it."""
    write_plugin_distribution(folder / "site", plugin=plugin, dist=dist, source=source, module=module)
    return {"PYTHONPATH": str(folder / "site")}


def case_clash():
    f = ROOT / "clash"
    c = base(f)
    env = fake_plugin(
        f,
        "decoders",
        "gencls-plugin-clash",
        "fake_clash",
        DECODER_PLUGIN.format(name="clash-decoder"),
    )
    row(
        "3rd-party distribution with entry point `decoders`: `gencls run`",
        gencls("run", "--config", cfgfile(f, c), env=env),
        f,
    )
    d = gencls("plugins", "list", env=env)
    broken = [line for line in d.stdout.splitlines() if "BROKEN" in line]
    shown = msg(d) if d.returncode else (broken[0][:200] if broken else "lists")
    print(f"| same, `gencls plugins list` | {d.returncode} | {shown} | |")


def case_nan_reward():
    f = ROOT / "nanreward"
    c = base(f)
    env = fake_plugin(
        f,
        "nanr",
        "gencls-plugin-nanr",
        "fake_nanr",
        '''
        from gencls_core import hookimpl, RewardFunc
        class R(RewardFunc):
            """x"""
            name = "nan-reward"
            def __call__(self, prompts, completions, **kw):
                return [float("nan")] * len(completions)
        @hookimpl
        def gencls_register_reward_funcs(register):
            register(R)
        ''',
    )
    c.update(
        plugins=["nanr"],
        rewards=["nan-reward"],
        trainers=[{"name": "grpo", "max_steps": 2, "batch_size": 4, "num_generations": 2, "max_completion_length": 2}],
    )
    row("GRPO with a reward returning NaN", gencls("run", "--config", cfgfile(f, c), env=env), f)


# -- issue 32: deleting folders, labels as written, run directories as data, the server, messages -----------------
_TRAINED: dict[str, Path] = {}


def trained(tag):
    """A finished one-step SFT run of its own (its folder under ROOT/tag)."""
    if tag not in _TRAINED:
        f = ROOT / tag
        gencls("run", "--config", cfgfile(f, base(f, trainers=[{"name": "sft", "max_steps": 1}])))
        _TRAINED[tag] = next((f / "runs").iterdir())
    return _TRAINED[tag]


def listing(folder):
    return sorted(p.name for p in Path(folder).iterdir()) if Path(folder).is_dir() else "gone"


def case_export_force():
    run = trained("xforce")
    runs = run.parent
    d = gencls("export", str(run), str(runs), "--force")
    row("`export RUN runs --force` (OUT = the output folder)", d, ROOT / "xforce", f"; runs/: {listing(runs)}")
    d = gencls("export", str(run), str(run), "--force")
    row("`export RUN RUN --force` (OUT = the run)", d, ROOT / "xforce", f"; run holds run.json: "
        f"{(run / 'run.json').is_file()}")
    mine = ROOT / "xforce" / "mine"
    mine.mkdir(exist_ok=True)
    (mine / "notes.txt").write_text("mine")
    d = gencls("export", str(run), str(mine), "--force")
    print(f"| `export RUN my-folder --force` (user files) | {d.returncode} | {msg(d)} | my-folder: {listing(mine)} |")


def relabel(path, positive, negative):
    """The tiny CSV with its two classes renamed."""
    rows = list(csv.reader(open(path)))[1:]
    with open(path, "w", newline="") as h:
        w = csv.writer(h)
        w.writerow(["text", "label"])
        w.writerows([(t, positive if label == "positive" else negative) for t, label in rows])


def case_labels():
    for name, pair in [("true/false", ("true", "false")), ("01/02", ("01", "02")), ("1/1.0", ("1", "1.0")),
                       ("NA/None", ("NA", "None"))]:
        f = ROOT / f"labels-{pair[0]}"
        c = base(f)
        relabel(c["dataset"]["path"], *pair)
        d = gencls("run", "--config", cfgfile(f, c))
        got = [json.loads(p.read_text())["data"]["labels"] for p in (f / "runs").glob("*/run.json")]
        row(f"CSV labels {name}", d, f, f"; classes {got[0] if got else None}")


def case_remote_code():
    run = trained("remote")
    model = ROOT / "remote" / "remote-model"
    shutil.copytree(MODEL, model, dirs_exist_ok=True)
    marker = ROOT / "remote" / "PWNED"
    (model / "evil.py").write_text(f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"
                                   "from transformers import LlamaForCausalLM\nclass Evil(LlamaForCausalLM):\n"
                                   "    pass\n")
    config = json.loads((model / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "evil.Evil"}
    (model / "config.json").write_text(json.dumps(config))
    rec = json.loads((run / "run.json").read_text())
    rec["config"]["model"] = {"name": "hf", "path": str(model), "trust_remote_code": True}
    rec.pop("trained_model", None)
    (run / "run.json").write_text(json.dumps(rec))
    d = gencls("predict", str(run), "-", stdin="good\n")
    row("run.json says `trust_remote_code: true` (model folder ships code): `predict`", d, ROOT / "remote",
        f"; the folder's code ran: {marker.exists()}")


def case_recorded_paths():
    run = trained("paths")
    rec = json.loads((run / "run.json").read_text())
    for value in ("../../elsewhere", "/tmp"):
        (run / "run.json").write_text(json.dumps({**rec, "trained_model": value}))
        row(f"run.json `trained_model: {value}`: `predict`", gencls("predict", str(run), "-", stdin="good\n"),
            ROOT / "paths")
    other = make_tiny_model(ROOT / "paths" / "another-model", seed=1)
    (run / "run.json").write_text(json.dumps({**rec, "config": {**rec["config"], "model": {"name": "hf", "path":
                                                                                          str(other)}}}))
    row("run.json names another base model than the adapter's: `predict`",
        gencls("predict", str(run), "-", stdin="good\n"), ROOT / "paths")
    (run / "run.json").write_text(json.dumps({k: v for k, v in rec.items() if k != "config"}))
    row("run.json without `config`: `predict`", gencls("predict", str(run), "-", stdin="good\n"), ROOT / "paths")


def case_run_name():
    f = ROOT / "runname"
    c = base(f, run_name="../../escaped")
    d = gencls("run", "--config", cfgfile(f, c))
    row("`run_name: ../../escaped`", d, f, f"; escaped folder written: {(f / 'runs' / '../../escaped').exists()}")


def case_yaml_bomb():
    f = ROOT / "bomb"
    f.mkdir(exist_ok=True)
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    (f / "bomb.yaml").write_text("\n".join(lines) + "\n")
    t = time.time()
    p = subprocess.Popen([PY, "-m", "gencls_core", "config", "show", "--config", str(f / "bomb.yaml")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = p.communicate()
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
    row(f"YAML alias bomb ({len((f / 'bomb.yaml').read_bytes())} bytes): `config show`",
        subprocess.CompletedProcess([], p.returncode, out, err), f,
        f"{time.time() - t:.1f} s, children's peak RSS so far {peak} MB")


def case_serve():
    from fastapi.testclient import TestClient

    from gencls_core import Engine
    from gencls_core.serve import create_app

    run = trained("serve")
    engine = Engine.from_run_dir(run, overrides=["truncation.max_prompt_tokens=60"])
    with TestClient(create_app(engine), raise_server_exceptions=False) as client:
        for what, body, kind in [("a lone surrogate", {"texts": ["\ud800"]}, "application/json"),
                                 ("a whitespace-only text", {"texts": ["   "]}, "application/json"),
                                 ("JSON sent as text/plain", {"texts": ["good"]}, "text/plain"),
                                 ("an over-long text", {"texts": [" ".join(["good film"] * 400)]},
                                  "application/json")]:
            r = client.post("/classify", content=json.dumps(body), headers={"content-type": kind})
            answer = r.text if r.status_code != 200 else json.dumps(
                {k: v for k, v in r.json()["predictions"][0].items() if k in ("label", "truncated")})
            print(f"| `serve`: {what} | HTTP {r.status_code} | {answer[:200]} | |", flush=True)


def case_leakage():
    f = ROOT / "leak"
    c = base(f)
    rows = list(csv.reader(open(c["dataset"]["path"])))[1:]
    (f / "train.csv").write_text("text,label\n" + "".join(f"{t},{label}\n" for t, label in rows)
                                 + f"{rows[0][0]},negative\n")
    (f / "test.csv").write_text("text,label\n" + "".join(f"{t},{label}\n" for t, label in rows[:5]))
    c["dataset"] = {"name": "local", "train": str(f / "train.csv"), "test": str(f / "test.csv")}
    d = gencls("run", "--config", cfgfile(f, c))
    m = [json.loads(p.read_text()).get("data_checks") for p in (f / "runs").glob("*/metrics.json")]
    row("test texts also in train, one text with two labels", d, f, f"; data_checks {m[0] if m else None}")


def case_damaged():
    run = trained("damaged")
    weights = next((run / "stages/1-sft/model").glob("*.safetensors"))
    weights.write_bytes(b"garbage")
    row("a damaged adapter safetensors: `predict`", gencls("predict", str(run), "-", stdin="good\n"), ROOT / "damaged")
    (run / "stages/1-sft/model/adapter_config.json").write_text("{not json")
    row("a non-JSON adapter_config.json: `predict`", gencls("predict", str(run), "-", stdin="good\n"),
        ROOT / "damaged")
    f = ROOT / "badjsonl"
    c = base(f)
    lines = [json.dumps({"text": f"t{i}", "label": "ab"[i % 2]}) for i in range(30)]
    lines[17] = '{"text": "broken, "label": "a"}'
    (f / "d.jsonl").write_text("\n".join(lines) + "\n")
    c["dataset"] = {"name": "local", "path": str(f / "d.jsonl")}
    c["splits"] = {"test_size": 4}
    row("a JSONL with a bad line 18", gencls("run", "--config", cfgfile(f, c)), f)


def case_predict_inputs():
    run = trained("inputs")
    f = ROOT / "inputs"
    (f / "texts.txt").write_text("good\n\nbad\n")
    d = gencls("predict", str(run), str(f / "texts.txt"))
    print(f"| `predict` on 3 lines, one blank | {d.returncode} | {msg(d)} | {len(d.stdout.splitlines())} "
          f"predictions |")
    (f / "in.csv").write_text("text,label\ngreat fun,positive\n")
    d = gencls("predict", str(run), str(f / "in.csv"))
    texts = [json.loads(line)["text"] for line in d.stdout.splitlines()]
    print(f"| `predict` on a text,label CSV | {d.returncode} | {msg(d)} | texts classified: {texts} |")
    (f / "blob.bin").write_bytes(bytes(range(256)) * 4)
    row("`predict` on a binary file", gencls("predict", str(run), str(f / "blob.bin")), f)
    d = gencls("predict", str(run), str(f / "texts.txt"), "-o", str(f / "texts.txt"))
    row("`predict IN -o IN`", d, f, f"; input now starts {(f / 'texts.txt').read_text()[:12]!r}")


def case_disk_full():
    small = ROOT / "small"
    small.mkdir(exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)]).returncode:
        print("| full disk | skipped | cannot mount a tmpfs here (needs root) | |")
        return
    try:
        f = ROOT / "full"
        c = base(f, output_dir=str(small / "runs"),
                 trainers=[{"name": "sft", "max_steps": 50, "save_steps": 1, "lora": None}])
        d = gencls("run", "--config", cfgfile(f, c))
        st = [json.loads(p.read_text()).get("status") for p in (small / "runs").glob("*/run.json")]
        row("disk full (1 MB tmpfs) during training", d, f, f"; run.json status {st}")
        subprocess.run(["umount", str(small)], check=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)], check=True)
        (small / "runs").mkdir()
        (small / "fill").write_bytes(b"\0" * (1000 << 10))
        d = gencls("run", "--config", cfgfile(f, c))
        print(f"| disk full before the run | {d.returncode} | {msg(d)} | runs/: {listing(small / 'runs')} |")
    finally:
        subprocess.run(["umount", str(small)])


def case_model_modes():
    run = trained("modes")
    modes = sorted({oct(p.stat().st_mode & 0o777) for p in (run / "stages").rglob("*") if p.is_file()})
    print(f"| file modes under stages/ (umask {oct(os.umask(0o022))}) | | | {modes} |")


def case_messages():
    f = ROOT / "msg"
    c = base(f)
    row("`--set splits.test_size=abc`", gencls("run", "--config", cfgfile(f, c), "--set", "splits.test_size=abc"), f)
    row("`--set seed=true`", gencls("run", "--config", cfgfile(f, c), "--set", "seed=true"), f)
    row("`--set dataset.path=/dev/zero`", gencls("run", "--config", cfgfile(f, c), "--set", "dataset.path=/dev/zero"),
        f)
    for name, pair, extra in [("Spam/spam", ("Spam", "spam"), []),
                              ("spam/not spam, free generation", ("spam", "not spam"), ["--set", "decoder=generate"])]:
        g = ROOT / f"msg-{pair[1]}"
        c = base(g)
        relabel(c["dataset"]["path"], *pair)
        row(f"labels {name}", gencls("run", "--config", cfgfile(g, c), *extra), g)
    run = trained("unfinished")
    rec = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**rec, "status": "interrupted"}))
    row("`export` of an interrupted run", gencls("export", str(run), str(ROOT / "unfinished" / "x")),
        ROOT / "unfinished")
    d = gencls("plugins", "list", env={"GENCLS_PLUGINS": "#$%"})
    print(f"| `GENCLS_PLUGINS='#$%' gencls plugins list` | {d.returncode} | {msg(d)} | "
          f"{len(d.stdout.splitlines())} components listed |")


CASES = {
    "seed": case_seed,
    "single": case_single_class,
    "unwritable": case_unwritable,
    "split0": lambda: case_splits(0),
    "splitneg": lambda: case_splits(-1),
    "splitbig": lambda: case_splits(500),
    "latin1": case_latin1,
    "diverge": case_diverge,
    "killed": case_predict_killed,
    "missing": case_missing_model,
    "long": lambda: case_long(25000),
    "longerr": lambda: case_long(25000, "error"),
    "sigterm": case_sigterm,
    "half": case_half_checkpoint,
    "pickle": case_pickle,
    "concurrent": case_concurrent,
    "umask": case_umask,
    "clash": case_clash,
    "nanreward": case_nan_reward,
    "exportforce": case_export_force,
    "labels": case_labels,
    "remotecode": case_remote_code,
    "paths": case_recorded_paths,
    "runname": case_run_name,
    "yamlbomb": case_yaml_bomb,
    "serve": case_serve,
    "leakage": case_leakage,
    "damaged": case_damaged,
    "inputs": case_predict_inputs,
    "diskfull": case_disk_full,
    "modes": case_model_modes,
    "messages": case_messages,
}
print("| case | exit | message | left behind |\n|---|---|---|---|")
for name in sys.argv[1:] or CASES:
    try:
        CASES[name]()
    except Exception as e:
        print(f"| {name} | harness error | {type(e).__name__}: {str(e)[:200]} | |", flush=True)
