"""Run directories: checked writable before any work, claimed atomically so two runs never share one."""

from __future__ import annotations

import datetime as _dt
import os
import tempfile
from pathlib import Path

from gencls_core.config import read_config_file
from gencls_core.errors import ConfigError, UsageError
from gencls_core.resolve import Resolution

PROBE_BYTES = 1 << 16  # what the first files of a run need


def check_writable(folder: Path) -> None:
    """Create ``folder`` if needed and check that a file of ``PROBE_BYTES`` can be written to disk in it (a full
    disk too), before any work is done."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".gencls-write-check-") as probe:
            probe.write(b"\0" * PROBE_BYTES)
            probe.flush()
            os.fsync(probe.fileno())
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


def release_run_dir(run_dir: Path, created: bool) -> None:
    """Undo a claim whose run could not write to its directory: the empty run.json, and the folder when the
    claim ``created`` it (a ``run_name`` folder may have been there, empty, before)."""
    record = run_dir / "run.json"
    if record.is_file() and record.stat().st_size == 0:
        record.unlink()
    if created:
        try:
            run_dir.rmdir()
        except OSError:
            pass  # not empty: other files are not ours to delete


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


def recorded_path(run_dir: Path, relative: object, key: str) -> Path:
    """A path recorded in ``run_dir``'s run.json, which must stay inside ``run_dir``."""
    inside = run_dir.resolve()
    path = (inside / str(relative)).resolve()
    if not isinstance(relative, str) or Path(relative).is_absolute() or inside not in path.parents:
        raise UsageError(f"{run_dir / 'run.json'}: {key} {relative!r} is not a folder inside the run directory; "
                         f"a run directory only refers to its own files (was run.json edited?)")
    return run_dir / relative


def trained_model_of(source: Path) -> Path:
    """The trained model a run starts from: a finished run directory's last trained stage, or a model folder
    (a LoRA adapter or full weights) given directly."""
    if (source / "run.json").is_file():
        record = read_config_file(source / "run.json")
        if record.get("status") != "done" or not record.get("trained_model"):
            raise UsageError(f"start_from {source}: the run has not finished a training stage (status "
                             f"{record.get('status')}); finish it with `gencls run --resume {source}` first")
        return recorded_path(source, record["trained_model"], "trained_model")
    if (source / "adapter_config.json").is_file() or (source / "config.json").is_file():
        return source
    raise UsageError(f"start_from {source}: neither a gencls run directory (run.json) nor a model folder "
                     f"(config.json or adapter_config.json)")
