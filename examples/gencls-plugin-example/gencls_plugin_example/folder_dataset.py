"""A dataset adapter: a folder holding one ``<label>.txt`` file per class, one example per line."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from gencls_core import DatasetSource, LabeledData, Options
from gencls_core.errors import DataError


class FolderDataset(DatasetSource):
    """Texts from ``<folder>/<label>.txt`` files, one example per non-empty line."""

    name = "folder"

    class Config(Options):
        path: Path = Field(..., description="folder with one <label>.txt file per class")
        task: str = Field("Classify the text.", description="task description used by prompts")

    def load(self, ctx):
        import datasets

        files = sorted(self.config.path.glob("*.txt")) if self.config.path.is_dir() else []
        if len(files) < 2:
            raise DataError(f"{self.config.path}: expected a folder with at least two <label>.txt files")
        texts, labels = [], []
        for f in files:
            lines = [line.strip() for line in f.read_text().splitlines() if line.strip()]
            if not lines:
                raise DataError(f"{f}: no examples (one per line expected)")
            texts += lines
            labels += [f.stem] * len(lines)
        split = datasets.Dataset.from_dict({"text": texts, "label": labels})
        return LabeledData({"train": split}, [f.stem for f in files], self.config.task,
                           {"path": str(self.config.path)})
