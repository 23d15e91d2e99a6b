"""``gencls study plan | run | commands | summary``."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from gencls_core.interrupts import exit_on_interrupt
from gencls_core.verbosity import quiet_libraries

SPEC = click.argument("spec", type=click.Path(dir_okay=False, exists=True, path_type=Path))


def _options(f):
    f = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                     help="override a spec key, e.g. --set base.splits.test_size=100 (repeatable)")(f)
    f = click.option("--out", type=click.Path(file_okay=False, path_type=Path),
                     help="the study folder (default: runs/studies/<spec name>)")(f)
    return f


def _open(spec, overrides, out):
    from gencls_core.study import open_study
    from gencls_core.study.runner import Folder

    study, planned = open_study(spec, list(overrides))
    return study, planned, Folder(out or Path("runs/studies") / study.spec.name, study.spec.name, planned)


@click.group()
def study() -> None:
    """GenCLS++'s strategy study: a grid of runs from a spec (axes of named config values), resumable, with the
    paper's table (95% intervals, differences with the baseline), plots and a TF-IDF baseline.

    See docs/study.md and examples/study.yaml.
    """


@study.command()
@SPEC
@_options
def plan(spec, overrides, out):
    """Print the cells, which share training, and a rough cost; runs nothing."""
    from gencls_core.study.baselines import baseline_path
    from gencls_core.study.plan import baseline_seconds, describe, estimate_seconds, input_problems

    study_, planned, folder = _open(spec, overrides, out)
    click.echo(f"study {study_.spec.name}: {len(planned)} cells into {folder.path}")
    quiet_libraries()
    problems = input_problems(planned)
    changed = set(folder.changed())
    status = {p.cell.name: "changed" if p.cell.name in changed else folder.status(p.cell.name) for p in planned}
    for line, p in zip(describe(planned), planned):
        click.echo(f"  [{status[p.cell.name]}] {line}")
    fitted = baseline_seconds(study_, lambda *key: baseline_path(folder.path, *key).is_file())
    if fitted:
        click.echo(f"  baselines ({', '.join(study_.spec.baselines)}): ~{fitted / 60:.0f} min")
    total = fitted + sum(estimate_seconds(p) for p in planned if status[p.cell.name] != "done")
    click.echo(f"left to run: ~{total / 3600:.1f} h (rough: SmolLM2-135M on 2 CPU cores; a GPU is far faster)")
    if changed:
        click.echo(f"{len(changed)} cell(s) marked [changed] were run with another config; `run` and `summary` "
                   f"refuse this folder until they are removed: choose another folder (--out)", err=True)
    if problems:
        raise click.ClickException("the inputs of some cells do not load (relative paths are read from the "
                                   "working directory, as in `gencls run`):\n  " + "\n  ".join(problems))


@study.command()
@SPEC
@_options
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="cells run at once, each in its own process (one GPU each when there are GPUs); keep 1 on a "
                   "small CPU machine, where two torch processes slow each other down")
@click.option("--fail-fast", is_flag=True, help="stop at the first failed cell (default: record it and go on)")
@click.option("--only", "only", multiple=True, metavar="CELL",
              help="run just this cell (repeatable); its source cell must have finished")
@click.option("--resamples", type=click.IntRange(min=100), default=2000, show_default=True,
              help="bootstrap resamples for the intervals")
def run(spec, overrides, out, jobs, fail_fast, only, resamples):
    """Run every cell not yet done (finished cells are skipped, interrupted ones resume), then write the summary."""
    from gencls_core.errors import UsageError
    from gencls_core.study.runner import run_all, run_cell

    study_, planned, folder = _open(spec, overrides, out)
    quiet_libraries()
    if not only:  # before the folder is claimed: a spec whose inputs do not load leaves nothing behind
        from gencls_core.study.plan import input_problems

        if problems := input_problems(planned):
            raise UsageError("the inputs of some cells do not load (relative paths are read from the working "
                             "directory, as in `gencls run`):\n  " + "\n  ".join(problems))
    folder.claim()
    if only:
        for name in only:
            if name not in folder.planned:
                raise UsageError(f"--only {name}: not a cell of study {study_.spec.name}; see `gencls study plan`")
            source = folder.planned[name].source
            if source and folder.status(source) != "done":
                raise UsageError(f"cell {name} starts from cell {source}, which has not finished; run it first")
            with _interruptible():
                run_cell(folder, name)
        return
    command = [sys.executable, "-m", "gencls_core", "study", "run", str(spec), "--out", str(folder.path),
               *[a for o in overrides for a in ("--set", o)], "--only"]
    with _interruptible():
        states = run_all(folder, jobs=jobs, fail_fast=fail_fast, command=command)
    bad = {n: s for n, s in states.items() if s != "done"}
    _write_summary(study_, folder.path, resamples)
    if bad:
        click.echo(f"{len(bad)} cell(s) did not finish: {', '.join(f'{n} ({s})' for n, s in bad.items())}; "
                   f"errors in {folder.path / 'study.json'}; run again to retry", err=True)
        sys.exit(1)


@study.command()
@SPEC
@_options
def commands(spec, overrides, out):
    """Print one command per cell for a cluster scheduler, in waves: a wave's cells start from cells of earlier
    waves only, so each wave can be one job array that depends on the previous one."""
    _, planned, folder = _open(spec, overrides, out)
    wave = {}
    for p in planned:  # sources come first
        wave[p.cell.name] = wave[p.source] + 1 if p.source else 1
    sets = "".join(f" --set {shlex.quote(o)}" for o in overrides)
    for number in sorted(set(wave.values())):
        click.echo(f"# wave {number}")
        for name in (n for n, w in wave.items() if w == number):
            click.echo(f"gencls study run {shlex.quote(str(spec))} --out {shlex.quote(str(folder.path))}{sets} "
                       f"--only {name}")
    click.echo(f"# then: gencls study summary {shlex.quote(str(spec))} --out {shlex.quote(str(folder.path))}{sets}")


@study.command()
@SPEC
@_options
@click.option("--resamples", type=click.IntRange(min=100), default=2000, show_default=True)
def summary(spec, overrides, out, resamples):
    """Write summary.csv, summary.md and the plots from the finished cells (unfinished ones are listed)."""
    study_, _, folder = _open(spec, overrides, out)
    folder.check()
    _write_summary(study_, folder.path, resamples)


def _interruptible():
    """Ctrl-C or SIGTERM: the cell records itself interrupted; say how to go on and exit 130 / 143."""
    return exit_on_interrupt("study ", lambda: "; run the same command again to go on (finished cells are "
                             "skipped, the interrupted one resumes from its checkpoint)")


def _write_summary(study_, path: Path, resamples: int) -> None:
    from gencls_core.study.plots import write_plots
    from gencls_core.study.summary import summarize, write_summary

    result = summarize(study_, path, resamples=resamples)
    written = write_summary(result, path, study_.spec.name) + write_plots(study_, result, path / "img")
    click.echo((path / "summary.md").read_text())
    click.echo("wrote " + ", ".join(str(p) for p in written))
