"""A dataset from the Hugging Face hub (or any ``datasets.load_dataset`` path)."""

from __future__ import annotations

from pydantic import Field

from gencls_core.errors import DataError
from gencls_core.interfaces import DatasetSource, LabeledData
from gencls_plugins.datasets.columns import ColumnOptions, build_split, label_set, require_columns


class HubDataset(DatasetSource):
    """A Hugging Face hub dataset by name; ClassLabel names are used as class names."""

    name = "hf-dataset"

    class Config(ColumnOptions):
        path: str = Field(..., description="dataset id, e.g. cornell-movie-review-data/rotten_tomatoes")
        subset: str | None = Field(None, description="dataset configuration name")
        revision: str | None = Field(None, description="branch, tag or commit")
        splits: dict[str, str] = Field({"train": "train", "test": "test"},
                                       description="gencls split -> hub split (train, validation, test)")

    def load(self, ctx) -> LabeledData:
        import datasets

        c = self.config
        try:
            hub = datasets.load_dataset(c.path, c.subset, revision=c.revision)
        except Exception as err:  # offline, unknown id, ...
            raise DataError(f"could not load hub dataset {c.path!r}: {err}") from err
        splits, found = {}, []
        for ours, theirs in c.splits.items():
            if theirs not in hub:
                raise DataError(f"hub dataset {c.path!r} has no split {theirs!r} (has {', '.join(hub)}); "
                                f"fix dataset.splits.{ours}")
            ds = hub[theirs]
            require_columns(ds.column_names, c, f"{c.path}[{theirs}]")
            raw = ds[c.label_column]
            feature = ds.features[c.label_column]
            inner = getattr(feature, "feature", None)  # a Sequence's (multi-label) element type
            if isinstance(feature, datasets.ClassLabel) and not c.label_names:
                raw = [feature.int2str(v) for v in raw]
            elif isinstance(inner, datasets.ClassLabel) and not c.label_names:
                raw = [[inner.int2str(v) for v in row] for row in raw]
            splits[ours], labels = build_split(ds[c.text_column], raw, c, f"{c.path}[{theirs}]")
            found += labels
        return LabeledData(splits, label_set(found, c), c.task, {"hub": c.path, "subset": c.subset},
                           multi_label=c.multi_label)
