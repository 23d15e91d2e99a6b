"""Run directories: checked writable before any work, claimed atomically so two runs never share one."""

from __future__ import annotations

import datetime as _dt
import os
import tempfile
from pathlib import Path

from gencls_core.errors import ConfigError, UsageError
from gencls_core.resolve import Resolution


def check_writable(folder: Path) -> None:
    """Create ``folder`` if needed and check a file can be written in it, before any work is done."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".gencls-write-check-"):
            pass
    except OSError as err:
        raise UsageError(f"output_dir {folder} is not writable ({err.strerror or err}); choose another "
                         f"output_dir") from None


def new_run_dir(resolution: Resolution) -> Path:
    """A new run directory: ``run_name`` when set (refused when it exists and is not empty), else
    time-dataset-model, trying the next suffix when taken."""
    cfg, slots = resolution.config, resolution.slots
    if cfg.run_name:
        run_dir = cfg.output_dir / cfg.run_name
        if not _claim(run_dir, allow_empty=True):
            raise ConfigError(f"run directory {run_dir} already exists and is not empty (or another run is "
                              f"using it); choose another run_name or remove it")
        return run_dir
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = cfg.output_dir / f"{stamp}-{slots['dataset'].entry.name}-{slots['model'].entry.name}"
    run_dir, n = base, 1
    while not _claim(run_dir, allow_empty=False):
        n += 1
        run_dir = base.with_name(f"{base.name}-{n}")
    return run_dir


def _claim(run_dir: Path, allow_empty: bool) -> bool:
    """Create ``run_dir`` and its ``run.json`` exclusively; False when another run has it (or, unless
    ``allow_empty``, when the folder exists at all)."""
    try:
        run_dir.mkdir(parents=True)
    except FileExistsError:
        if not allow_empty or not run_dir.is_dir() or any(run_dir.iterdir()):
            return False
    except OSError as err:
        raise UsageError(f"cannot create run directory {run_dir} ({err.strerror or err})") from None
    try:
        os.close(os.open(run_dir / "run.json", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    except FileExistsError:
        return False
    return True


def trained_model_of(source: Path) -> Path:
    """The trained model a run starts from: a finished run directory's last trained stage, or a model folder
    (a LoRA adapter or full weights) given directly."""
    import json

    if (source / "run.json").is_file():
        record = json.loads((source / "run.json").read_text())
        if record.get("status") != "done" or not record.get("trained_model"):
            raise UsageError(f"start_from {source}: the run has not finished a training stage (status "
                             f"{record.get('status')}); finish it with `gencls run --resume {source}` first")
        return source / record["trained_model"]
    if (source / "adapter_config.json").is_file() or (source / "config.json").is_file():
        return source
    raise UsageError(f"start_from {source}: neither a gencls run directory (run.json) nor a model folder "
                     f"(config.json or adapter_config.json)")
