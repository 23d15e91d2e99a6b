"""Fake installed distributions (``*.dist-info`` + module) on sys.path, for discovery tests."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

from stevedore import ExtensionManager

from gencls_core.assets import PinnedWheel, sha256_of
from gencls_core.testing.distributions import write_plugin_distribution


def install_fake_plugin(site: Path, monkeypatch, *, plugin: str, dist: str, version: str = "1.0",
                        source: str, module: str | None = None) -> str:
    """Write module ``module`` with ``source`` and a dist-info declaring it as gencls plugin ``plugin``."""
    module = module or f"fake_{plugin.replace('-', '_')}"
    write_plugin_distribution(site, plugin=plugin, dist=dist, source=source, module=module, version=version)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, module, raising=False)
    ExtensionManager.ENTRY_POINT_CACHE.clear()
    return module


def build_wheel(folder: Path, dist: str, version: str, files: dict[str, str | bytes]) -> PinnedWheel:
    """A minimal valid wheel holding ``files`` (member -> content) in ``folder``; returns it pinned."""
    path = folder / PinnedWheel(dist, version, "").filename
    info = f"{dist.replace('-', '_')}-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as zf:
        for member, content in files.items():
            zf.writestr(member, content)
        zf.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        zf.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr(f"{info}/RECORD", "")
    return PinnedWheel(dist, version, sha256_of(path))
