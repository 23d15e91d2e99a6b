"""Running a study's cells: each a normal run directory in the study folder, skipped when done, resumed when
interrupted; a failed cell is recorded and the others go on. ``study.json`` holds the spec and every cell's
run config and state."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from gencls_core.errors import UsageError
from gencls_core.results import write_json
from gencls_core.study.plan import Planned

STATE = "study.json"


class Folder:
    """A study folder: its ``study.json`` and one run directory per cell."""

    def __init__(self, path: Path, name: str, planned: list[Planned]) -> None:
        self.path, self.name = path, name
        self.planned = {p.cell.name: p for p in planned}
        self.configs = {p.cell.name: p.run_config(path) for p in planned}

    def check(self) -> dict[str, Any]:
        """The folder's state; refuse a folder holding another study, or a cell run with another config."""
        state = self._read() or {}
        if state and state.get("name") != self.name:
            raise UsageError(f"{self.path} holds study {state.get('name')!r}, not {self.name!r}; choose another "
                             f"folder (--out)")
        for name in self.changed():
            raise UsageError(f"{self.path}: cell {name} was run with another config (the spec changed); remove "
                             f"{self.path / name} to run it again, or choose another folder (--out)")
        return state

    def claim(self) -> None:
        """Create or reopen the folder (see ``check``) and record every cell's config."""
        cells = self.check().get("cells", {})
        self.path.mkdir(parents=True, exist_ok=True)
        for name, config in self.configs.items():
            cells[name] = {**cells.get(name, {}), "config": config}
        write_json(self.path / STATE, {"name": self.name, "cells": cells})

    def changed(self) -> list[str]:
        """Cells whose run directory was made with another config than the spec now gives them."""
        cells = (self._read() or {}).get("cells", {})
        return [name for name, entry in cells.items() if name in self.configs
                and entry.get("config") != self.configs[name] and (self.path / name).exists()]

    def status(self, name: str) -> str:
        """done, interrupted / failed / running (a run directory that did not finish), or pending."""
        record = self.path / name / "run.json"
        text = record.read_text() if record.is_file() else ""
        return json.loads(text).get("status", "pending") if text.strip() else "pending"

    def record(self, name: str, **fields: Any) -> None:
        state = self._read()
        if state is None or name not in state.get("cells", {}):
            raise RuntimeError(f"{self.path}: cell {name} was not claimed (claim() records every cell first)")
        state["cells"][name].update(fields)
        write_json(self.path / STATE, state)

    def _read(self) -> dict[str, Any] | None:
        path = self.path / STATE
        return json.loads(path.read_text()) if path.is_file() else None


def run_cell(folder: Folder, name: str) -> None:
    """Run one cell in this process: skip it when done, resume it when its run directory did not finish."""
    from gencls_core.engine import Engine

    status, run_dir = folder.status(name), folder.path / name
    if status == "done":
        return
    if status == "pending":
        shutil.rmtree(run_dir, ignore_errors=True)  # claimed but never started
        Engine(folder.configs[name]).run()
    else:
        Engine.resume(run_dir).run()


def run_all(folder: Folder, *, jobs: int = 1, fail_fast: bool = False, progress: bool = True,
            command: list[str] | None = None) -> dict[str, str]:
    """Every cell, sources before the cells starting from them; ``jobs`` > 1 runs ready cells as ``command``
    + [cell name] subprocesses (one GPU each when there are GPUs). With one job the cells run depth-first in
    plan order (a trained model's evaluations before the next training), so an interrupted study has whole
    rows. Returns each cell's final state."""
    from tqdm.auto import tqdm

    order = list(folder.planned)
    states = {n: "done" if folder.status(n) == "done" else "pending" for n in order}
    bar = tqdm(total=len(order), initial=sum(s == "done" for s in states.values()), desc=f"study {folder.name}",
               unit="cell", position=0, disable=not progress, dynamic_ncols=True)
    running: dict[str, tuple[subprocess.Popen, int]] = {}
    slots = list(range(jobs))
    try:
        while True:
            _block_orphans(folder, states)
            ready = [n for n in order if states[n] == "pending" and _source_done(folder, n, states)]
            if not ready and not running:
                break
            while ready and (jobs == 1 or slots):
                name = ready.pop(0)
                if jobs == 1:
                    states[name] = _in_process(folder, name, fail_fast)
                    bar.update(1)
                    break  # its evaluations may be ready now
                states[name] = "running"
                running[name] = (_spawn(command, name, slots[0]), slots.pop(0))
            for name, (proc, slot) in list(running.items()):
                if proc.poll() is None:
                    continue
                del running[name]
                slots.append(slot)
                states[name] = folder.status(name) if proc.returncode == 0 else "failed"
                folder.record(name, state=states[name], returncode=proc.returncode)
                bar.update(1)
                if states[name] != "done" and fail_fast:
                    raise UsageError(f"study cell {name} failed (exit {proc.returncode}); see {folder.path / name}")
            if running:
                time.sleep(2)
    finally:
        for proc, _ in running.values():
            proc.terminate()
        bar.close()
    return states


def _in_process(folder: Folder, name: str, fail_fast: bool) -> str:
    started = time.time()
    try:
        run_cell(folder, name)
    except Exception as err:  # a failed cell is recorded; the study goes on
        folder.record(name, state="failed", error=f"{type(err).__name__}: {err}", traceback=traceback.format_exc())
        if fail_fast:
            raise
        print(f"study cell {name} failed: {type(err).__name__}: {err}", file=sys.stderr)
        return "failed"
    folder.record(name, state="done", seconds=round(time.time() - started, 1))
    return "done"


def _spawn(command: list[str] | None, name: str, slot: int) -> subprocess.Popen:
    if not command:
        raise UsageError("running cells in parallel needs the command that runs one cell")
    env = dict(os.environ)
    gpus = _gpu_count()
    if gpus:
        env["CUDA_VISIBLE_DEVICES"] = str(slot % gpus)
    return subprocess.Popen([*command, name], env=env)


def _gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _source_done(folder: Folder, name: str, states: dict[str, str]) -> bool:
    source = folder.planned[name].source
    return source is None or states[source] == "done"


def _block_orphans(folder: Folder, states: dict[str, str]) -> None:
    """Cells whose source failed (or was blocked) cannot run."""
    changed = True
    while changed:
        changed = False
        for name, p in folder.planned.items():
            if states[name] == "pending" and p.source and states[p.source] in ("failed", "blocked"):
                states[name] = "blocked"
                folder.record(name, state="blocked", error=f"its source cell {p.source} did not finish")
                changed = True
