"""Fake installed plugin distributions on disk (a module plus a ``*.dist-info`` with a ``gencls`` entry point),
for discovery tests and fault checks."""

from __future__ import annotations

import textwrap
from pathlib import Path

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


def write_plugin_distribution(site: Path, *, plugin: str, dist: str, source: str, module: str,
                              version: str = "1.0") -> None:
    """Write module ``module`` with ``source`` into ``site`` and a dist-info declaring it as gencls plugin
    ``plugin`` of distribution ``dist``."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[gencls]\n{plugin} = {module}\n")
