"""Fake installed distributions (``*.dist-info`` + module) on sys.path, for discovery tests."""

from __future__ import annotations

import sys
import textwrap
import zipfile
from pathlib import Path

from stevedore import ExtensionManager

from gencls_core.assets import PinnedWheel, sha256_of


def install_fake_plugin(site: Path, monkeypatch, *, plugin: str, dist: str, version: str = "1.0",
                        source: str, module: str | None = None) -> str:
    """Write module ``module`` with ``source`` and a dist-info declaring it as gencls plugin ``plugin``."""
    module = module or f"fake_{plugin.replace('-', '_')}"
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[gencls]\n{plugin} = {module}\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, module, raising=False)
    ExtensionManager.ENTRY_POINT_CACHE.clear()
    return module


DECODER_PLUGIN = '''
from gencls_core import hookimpl, Decoder, Prediction


class FirstLabel(Decoder):
    """Always predicts the first label."""

    name = "{name}"

    def decode(self, lm, prompts, labels, ctx):
        return [Prediction(label=labels.labels[0]) for _ in prompts]


@hookimpl
def gencls_register_decoders(register):
    register(FirstLabel)
'''


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
