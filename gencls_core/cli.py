"""The ``gencls`` command line: a thin shell over Engine and the plugin loader.

Listing plugins and ``--help`` never import torch: plugin modules import heavy libraries lazily.
"""

from __future__ import annotations

import json
import sys
import traceback
import warnings
from pathlib import Path

import click
import yaml

from gencls_core.errors import GenclsError
from gencls_core.interrupts import exit_on_interrupt
from gencls_core.study.commands import study
from gencls_core.verbosity import DEBUG_ENV, quiet_libraries
from gencls_core.verbosity import debug as _debug


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gencls")
def cli() -> None:
    """gencls: generative text classification with LLMs.

    With no options, `gencls run` evaluates SmolLM2-135M-Instruct zero-shot (perplexity decoding) on
    200 Rotten Tomatoes reviews. Set GENCLS_DEBUG=1 for full tracebacks.
    """


def _run_options(f):
    f = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                     help="override a config key, e.g. --set decoder.name=generate (repeatable)")(f)
    f = click.option("--plugins", default="", metavar="A,B",
                     help="third-party plugins to load, comma-separated, in order; no:NAME leaves a plugin "
                          "(built-in ones too) out")(f)
    f = click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
                     help="YAML or JSON run config")(f)
    return f


def _engine(config_file, plugins, overrides):
    from gencls_core.engine import Engine

    sets = list(overrides)
    if plugins:
        sets.append(f"plugins={json.dumps([p.strip() for p in plugins.split(',') if p.strip()])}")
    return Engine(config_file, overrides=sets)


@cli.command()
@_run_options
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="continue an interrupted run in its directory: finished stages are loaded, the interrupted "
                   "one continues from its last checkpoint (the run's recorded config is used)")
@click.option("--recipe", metavar="NAME", help="train with a recipe instead of trainers: its stages for the data "
                                               "and what to keep, chosen on the validation split (e.g. auto; "
                                               "`gencls plugins list` shows them)")
def run(config_file, plugins, overrides, resume_dir, recipe):
    """Run a job: load data and model, train stages, decode the test split, evaluate.

    Writes run.json, metrics.json, predictions.jsonl and report.md (with plots) into a new folder
    under output_dir; each training stage also gets stages/<i>-<trainer>/ with its model and checkpoints.
    """
    from gencls_core.engine import Engine
    from gencls_core.results import format_table, scalar_metrics, stage_table

    if resume_dir and (config_file or plugins or overrides or recipe):
        raise click.UsageError("--resume uses the run's recorded config; drop --config, --plugins, --set and --recipe")
    if recipe:
        overrides = (*overrides, f"recipe={recipe}")
    engine = Engine.resume(resume_dir) if resume_dir else _engine(config_file, plugins, overrides)
    quiet_libraries()
    with exit_on_interrupt("", lambda: f"; continue with: gencls run --resume {engine.run_dir}"
                           if engine.run_dir else ""):
        result = engine.run()
    if not engine.processes.is_main:  # one of several processes: the main one reports
        return
    if result.stages:
        click.echo(stage_table(result.stages, result.stage_columns))
    rows = [(k, f"{v:.4f}" if isinstance(v, float) else str(v)) for k, v in scalar_metrics(result.metrics).items()]
    rows.append(("wall_seconds", f"{result.seconds:.1f}"))
    slots = result.components
    title = (f"{slots['model']} | {slots['dataset']} | prompt {slots['inference_prompt']} | "
             f"decoder {slots['decoder']}")
    click.echo(format_table(rows, title))
    from gencls_core.baseline import sentences

    for sentence in sentences(result.metrics, len(result.predictions)):
        click.echo(sentence)
    click.echo(f"report: {result.run_dir / 'report.md'}")
    click.echo(f"run directory: {result.run_dir}")


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.argument("input", required=False, default="-", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="write the predictions here (atomically) instead of standard output: .csv (line, text, label, "
                   "status, truncated, windows, one p_<class> column per class) or JSON lines (any other name)")
@click.option("--text-column", default="text", show_default=True,
              help="the column (.csv, .parquet) or field (.jsonl) holding the text")
@click.option("--id-column", help="a column (.csv, .parquet) or field (.jsonl) carried through as each "
                                  "prediction's id")
@click.option("--batch-size", type=click.IntRange(min=1), help="inputs per decoder call (default: the run's)")
@click.option("--min-probability", type=click.FloatRange(0, 1), metavar="P",
              help="abstain (label null, status abstained) where the most probable label has a probability under "
                   "P; the report's coverage and selective accuracy show what a threshold keeps (`gencls "
                   "threshold` chooses one)")
@click.option("--thresholds", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="a JSON file {label: P}: abstain where the predicted label's probability is under its P (`gencls "
                   "threshold --per-class --out` writes one)")
@click.option("--label-threshold", type=click.FloatRange(0, 1), metavar="P",
              help="multi-label runs: give every label whose probability reaches P (default: the threshold the run "
                   "chose on its validation split, in run.json)")
@click.option("--allow-unfinished", is_flag=True,
              help="use a run that did not finish (its last finished stage's model)")
@click.option("--trust-remote-code", is_flag=True,
              help="run Python code that the model folder ships (never taken from run.json or gencls.json)")
def predict(run_dir, input, output, text_column, id_column, batch_size, min_probability, thresholds,
            label_threshold, allow_unfinished, trust_remote_code):
    """Classify texts with a finished run's (or an export's) model, prompt and decoder.

    INPUT is a .csv file (with a header; the text in --text-column), a .jsonl file (one object per line, the
    text in --text-column), a .parquet table (the text in --text-column), any other file as plain UTF-8 text
    (one text per line), or - for standard input (plain text). Empty lines or texts are skipped with a
    warning. Prints one JSON object per text: line (the input's line or row number), text, label (null when no
    valid label), status, truncated, windows (how many the text was read in: long_text.policy chunks), probs,
    scores, output; a multi-label run's also labels, the predicted set (in CSV: the label column, joined by |).
    """
    from gencls_core.predict_input import read_inputs
    from gencls_core.results import write_jsonl, write_text_atomic
    from gencls_core.thresholds import read_thresholds

    sets = [f"decoder.batch_size={batch_size}"] if batch_size else []
    sets += [f"label_sets.threshold={label_threshold}"] if label_threshold is not None else []
    engine = _trained_engine(run_dir, allow_unfinished, sets or None,
                             trust_remote_code)
    inputs = read_inputs(input, text_column, output, id_column)  # before the model loads: a bad input costs little
    if thresholds is not None:
        if min_probability is not None:
            raise click.UsageError("give --min-probability (one for every label) or --thresholds (per label), not both")
        min_probability = read_thresholds(thresholds, engine.recorded["data"]["labels"])
    quiet_libraries()
    preds = engine.predictor()(inputs.texts, min_probability)
    ids = inputs.ids or [None] * len(preds)
    multi = engine.recorded["data"].get("multi_label", False)
    rows = [{"line": n, **({"id": i} if inputs.ids else {}), "text": t, "label": p.label,
             **({"labels": p.labels} if multi else {}), "status": p.status, "truncated": p.truncated,
             "windows": p.windows, "probs": p.probs, "scores": p.scores, "output": p.output}
            for n, i, t, p in zip(inputs.lines, ids, inputs.texts, preds)]
    if output and output.suffix.lower() == ".csv":
        write_text_atomic(output, _csv(rows, engine.recorded["data"]["labels"]))
    elif output:
        write_jsonl(output, rows)
    else:
        for r in rows:
            click.echo(json.dumps(r))


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--precision", type=click.FloatRange(0, 1), metavar="P",
              help="the accuracy the answered texts must keep: the lowest threshold that keeps it  [default: 0.9]")
@click.option("--coverage", type=click.FloatRange(0, 1), metavar="C",
              help="instead of --precision: the share of texts that must be answered: the highest threshold that "
                   "answers it")
@click.option("--split", type=click.Choice(["validation", "test"]), default="validation", show_default=True,
              help="the held-out texts the threshold is chosen on (test: only where nothing else is left, "
                   "and the run's test score then no longer measures the thresholded model)")
@click.option("--per-class", is_flag=True,
              help="also choose one threshold per predicted label (on that label's predictions) and write them to "
                   "--out for predict --thresholds")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="with --per-class: the JSON file to write (a new file)")
@click.option("--trust-remote-code", is_flag=True,
              help="run Python code that the model folder ships (never taken from run.json)")
def threshold(run_dir, precision, coverage, split, per_class, out, trust_remote_code):
    """Choose predict's --min-probability on a finished run's validation split: the lowest top-label probability
    whose answered texts are at least --precision accurate (the most texts answered), or the highest that answers
    --coverage of them, with the table of thresholds, coverage and selective accuracy behind it. With
    --per-class, also one threshold per label, written to --out (nothing else is written)."""
    from gencls_core.results import format_table, write_json
    from gencls_core.thresholds import choose_class_thresholds, choose_threshold, operating_points, per_label

    if (run_dir / "gencls.json").is_file():
        raise click.UsageError(f"{run_dir} is an export, which keeps no data; choose the threshold on the run "
                               f"directory it was exported from")
    if precision is not None and coverage is not None:
        raise click.UsageError("give --precision (the accuracy to keep) or --coverage (the share to answer), not both")
    if per_class != (out is not None):
        raise click.UsageError("--per-class and --out go together: the per-label thresholds are written to --out")
    if out is not None and out.exists():
        raise click.UsageError(f"--out {out} exists; choose a new file (threshold writes only files it creates)")
    precision = 0.9 if precision is None and coverage is None else precision
    goal = f"{precision:.3f} accuracy" if coverage is None else f"{coverage:.1%} of the texts answered"
    engine = _trained_engine(run_dir, False, None, trust_remote_code)
    data = engine.dataset()
    if split not in data.splits or len(data.splits[split]) == 0:
        raise click.UsageError(f"{run_dir} has no {split} split to choose a threshold on; train the run with "
                               f"splits.validation_size (or pass --split test)")
    quiet_libraries()
    held = data.splits[split]
    gold, predictions = list(held["label"]), engine.predictor()(list(held["text"]))
    points = operating_points(gold, predictions)
    marks = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)  # the lowest threshold at or above each
    shown = list(dict.fromkeys(next(p for p in points if p.threshold >= t) for t in marks
                               if points and points[-1].threshold >= t))
    click.echo(format_table([(f"{p.threshold:.3f}", f"coverage {p.coverage:.3f}, selective accuracy "
                                                     f"{p.selective_accuracy:.3f}") for p in shown],
                            f"{split} split, {len(gold)} texts", ("threshold", "what it keeps"), "<"))
    chosen = choose_threshold(gold, predictions, precision, coverage)
    if chosen is not None:
        click.echo(f"--min-probability {chosen.threshold:.3f}: answers {chosen.coverage:.1%} of the {split} texts "
                   f"at {chosen.selective_accuracy:.3f} accuracy")
    if per_class:
        thresholds, rows = per_label(predictions, choose_class_thresholds(gold, predictions, precision, coverage),
                                     chosen, list(data.labels), goal, split)
        click.echo(format_table(rows, f"per label, {goal}", ("label", "threshold"), "<"))
        write_json(out, thresholds)
        click.echo(f"wrote {out}: use it with `gencls predict RUN TEXTS --thresholds {out}`")
    elif chosen is None:
        best = max(points, key=lambda p: p.selective_accuracy, default=None)
        raise click.ClickException(
            f"no threshold keeps {goal} on the {split} split" + (
                f" (the best, {best.selective_accuracy:.3f}, answers {best.coverage:.1%} of the texts at "
                f"{best.threshold:.3f})" if best else " (no text has label probabilities)"))


def _trained_engine(run_dir: Path, allow_unfinished: bool, overrides: list[str] | None, trust_remote_code: bool):
    """The engine of a run directory, or of a `gencls export` folder."""
    from gencls_core.engine import Engine

    if (run_dir / "gencls.json").is_file():
        return Engine.from_pretrained(run_dir, overrides=overrides, trust_remote_code=trust_remote_code)
    return Engine.from_run_dir(run_dir, allow_unfinished=allow_unfinished, overrides=overrides,
                               trust_remote_code=trust_remote_code)


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on (0.0.0.0: all)")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--max-batch", default=32, show_default=True, type=click.IntRange(min=1),
              help="most texts decoded in one call, gathered from concurrent requests")
@click.option("--max-wait-ms", default=10.0, show_default=True, type=click.FloatRange(min=0),
              help="how long the first waiting request waits for others to share its call")
@click.option("--max-texts", default=256, show_default=True, type=click.IntRange(min=1),
              help="most texts in one request (more: HTTP 413)")
@click.option("--allow-unfinished", is_flag=True, help="serve a run that did not finish (its last stage's model)")
@click.option("--trust-remote-code", is_flag=True,
              help="run Python code that the model folder ships (never taken from run.json or gencls.json)")
def serve(run_dir, host, port, max_batch, max_wait_ms, max_texts, allow_unfinished, trust_remote_code):
    """Serve a finished run's (or an export's) model over HTTP: POST /classify {"texts": [...]}, GET /health,
    GET /info; interactive docs at /docs. Needs the serve extra: pip install "gencls[serve]"."""
    try:
        import uvicorn

        from gencls_core.serve import create_app
    except ImportError as err:
        raise click.UsageError(f"gencls serve needs FastAPI and uvicorn ({err}); pip install 'gencls[serve]'") from None
    engine = _trained_engine(run_dir, allow_unfinished, None, trust_remote_code)
    quiet_libraries()
    app = create_app(engine, max_batch=max_batch, max_wait_ms=max_wait_ms, max_texts=max_texts)
    uvicorn.run(app, host=host, port=port, log_level="info")


def _csv(rows: list[dict], labels: list[str]) -> str:
    """Predictions as CSV: input line, id (with --id-column), text, label (a multi-label run's set joined by
    ``|``), status, truncated, windows and each class's probability."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    ids = bool(rows) and "id" in rows[0]
    writer.writerow(["line", *(["id"] if ids else []), "text", "label", "status", "truncated", "windows",
                     *[f"p_{c}" for c in labels]])
    for r in rows:
        probs = r["probs"] or {}
        label = "|".join(r["labels"] or []) if "labels" in r else r["label"] or ""
        writer.writerow([r["line"], *([r["id"]] if ids else []), r["text"], label, r["status"],
                         r["truncated"], r["windows"], *[probs.get(c, "") for c in labels]])
    return out.getvalue()


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="replace OUT if it is an earlier gencls export")
@click.option("--push-to-hub", "repo", metavar="REPO", help="also upload the folder to this Hugging Face Hub repo")
@click.option("--dtype", type=click.Choice(["float32", "bfloat16", "float16"]), default="float32", show_default=True,
              help="the stored weights' precision: float32 as the run evaluated them; bfloat16 / float16 half the "
                   "size (538 -> 269 MB for SmolLM2-135M), scores within rounding")
@click.option("--trust-remote-code", is_flag=True,
              help="run Python code that the model folder ships (never taken from run.json or gencls.json)")
def export(run_dir, out, force, repo, dtype, trust_remote_code):
    """Export a finished run to OUT: the model with its adapter merged (safetensors), the tokenizer, gencls.json
    (labels, prompt, decoder) and a model card.

    `gencls predict OUT`, `Engine.from_pretrained(OUT)` and plain transformers load it without the run.
    """
    from gencls_core.export import export_run, push_to_hub

    quiet_libraries()
    folder = export_run(run_dir, out, force=force, trust_remote_code=trust_remote_code, dtype=dtype)
    click.echo(f"exported {run_dir} to {folder}")
    if repo:
        click.echo(f"pushed to {push_to_hub(folder, repo)}")


@cli.group()
def plugins():
    """Installed plugins and the components they provide."""


@plugins.command("list")
@click.option("--json", "as_json", is_flag=True, help="one JSON row per component (and per broken plugin)")
def plugins_list(as_json):
    """List every installed plugin's components; broken plugins are shown as broken, not fatal."""
    from gencls_core.plugins import load_plugins

    loaded = load_plugins(all_installed=True)
    rows = [{"kind": e.kind, "name": e.name, "plugin": e.plugin.name, "distribution": e.plugin.distribution,
             "version": e.plugin.version, "status": "ok", "summary": e.component.summary()}
            for e in loaded.registry.entries()]
    rows += [{"kind": None, "name": None, "plugin": info.name, "distribution": info.distribution,
              "version": info.version, "status": "broken", "error": why}
             for info, why in loaded.broken.values()]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        if r["status"] == "broken":
            click.echo(f"BROKEN  {r['plugin']} ({r['distribution']} {r['version']}): {r['error']}")
        else:
            click.echo(f"{r['kind']:<16} {r['name']:<24} {r['plugin']} ({r['distribution']} {r['version']})"
                       f"  {r['summary']}")


@plugins.command("show")
@click.argument("kind")
@click.argument("name")
@click.option("--plugins", "names", default="", metavar="A,B", help="third-party plugins to load as well")
def plugins_show(kind, name, names):
    """Describe one component: its plugin and its options as a markdown table (from its Config).

    KIND is one of model_source, dataset, label_scheme, prompt_strategy, decoder, reward_func, trainer,
    evaluator, recipe; e.g. gencls plugins show trainer sft
    """
    from gencls_core.interfaces import KINDS
    from gencls_core.optiondocs import option_table
    from gencls_core.plugins import load_plugins

    if kind not in KINDS:
        raise click.BadParameter(f"{kind!r} is not a kind; kinds: {', '.join(KINDS)}", param_hint="KIND")
    entry = load_plugins([n for n in names.split(",") if n.strip()]).registry.get(kind, name)
    about = " ".join((entry.component.__doc__ or "").split("\n\n")[0].split())
    click.echo(f"{kind} {name}: {about}\n{entry.plugin.describe()}\n")
    click.echo(option_table(entry.component.Config))


@plugins.command("docs")
@click.argument("folder", default="docs", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--check", is_flag=True, help="only report stale files (exit 1), write nothing")
def plugins_docs(folder, check):
    """Regenerate FOLDER/options.md (every built-in component's options) and the option tables in FOLDER/*.md
    (the <!-- options: KIND NAME --> blocks), from the registry."""
    from gencls_core.optiondocs import catalogue, refresh
    from gencls_core.plugins import load_plugins
    from gencls_core.results import write_text_atomic

    registry = load_plugins().registry
    wanted = {folder / "options.md": catalogue(registry)}
    for doc in sorted(folder.glob("*.md")):
        wanted.setdefault(doc, refresh(doc.read_text(), registry))
    stale = [doc for doc, text in wanted.items() if not doc.is_file() or doc.read_text() != text]
    for doc in stale:
        click.echo(f"{'stale' if check else 'wrote'}: {doc}")
        if not check:
            write_text_atomic(doc, wanted[doc])
    if check and stale:
        sys.exit(1)


@cli.group()
def config():
    """Run configurations."""


@config.command("prompt")
@_run_options
@click.argument("texts", nargs=-1)
def config_prompt(config_file, plugins, overrides, texts):
    """Print the inference prompt exactly as the model sees it, for TEXTS or the first test example.

    Loads the dataset and the model's tokenizer (its chat template), e.g.
    gencls config prompt --set prompt.name=few-shot --set labels=numeric
    """
    engine = _engine(config_file, plugins, overrides)
    quiet_libraries()
    for rendered in engine.render_prompts(list(texts) or None):
        click.echo(rendered)


@config.command("show")
@_run_options
def config_show(config_file, plugins, overrides):
    """Print the resolved config: every slot named, every option spelled out (YAML)."""
    engine = _engine(config_file, plugins, overrides)
    click.echo(yaml.safe_dump(engine.resolution.resolved_config(), sort_keys=False), nl=False)


cli.add_command(study)


def _add_plugin_commands() -> None:
    """Sub-commands from built-in plugins and those named in GENCLS_PLUGINS; a broken plugin only warns."""
    from gencls_core.plugins import load_plugins

    try:
        loaded = load_plugins()
    except GenclsError as err:
        click.echo(f"warning: plugin commands unavailable: {err}", err=True)
        return
    loaded.hook.gencls_register_commands(cli=cli, app=_App())


class _App:
    """``CommandServices`` for plugin commands."""

    def loaded_context(self, config, overrides):
        from gencls_core.devices import resolve_device
        from gencls_core.engine import Engine

        engine = Engine(config, overrides=list(overrides))
        return engine.loaded_context(resolve_device(engine.config.device), engine.config.progress)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """gencls warnings as one ``warning:`` line; others as Python prints them."""
    from gencls_core.errors import GenclsWarning

    if issubclass(category, GenclsWarning) and not _debug():
        click.echo(f"warning: {message}", err=True)
    else:
        _python_showwarning(message, category, filename, lineno, file, line)


_python_showwarning = warnings.showwarning


def main(argv: list[str] | None = None) -> None:
    """Console entry point: GenclsErrors become one clear line and their exit code; any other exception one line
    with its type (the traceback with GENCLS_DEBUG=1)."""
    warnings.showwarning = _show_warning
    try:
        _add_plugin_commands()
        cli.main(args=argv, prog_name="gencls", standalone_mode=False)
    except click.exceptions.Exit as err:
        sys.exit(err.exit_code)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except GenclsError as err:
        if _debug():
            traceback.print_exc()
        else:
            click.echo(f"error: {err}", err=True)
            if err.__cause__ is not None:
                click.echo(f"  caused by {type(err.__cause__).__name__}: {err.__cause__} "
                           f"(set {DEBUG_ENV}=1 for the traceback)", err=True)
        sys.exit(err.exit_code)
    except Exception as err:  # a bug or an unexpected library error: one line, not a traceback
        if _debug():
            traceback.print_exc()
        else:
            click.echo(f"error: {type(err).__name__}: {' '.join(str(err).split())[:1000]} "
                       f"(set {DEBUG_ENV}=1 for the traceback)", err=True)
        sys.exit(1)
