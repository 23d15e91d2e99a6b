"""Checking a dataset against its declared labels, and carving seeded, stratified splits."""

from __future__ import annotations

import warnings
from collections import Counter
from typing import TYPE_CHECKING, Any

from gencls_core.config import SplitConfig
from gencls_core.errors import DataError, GenclsWarning
from gencls_core.interfaces import LabeledData

if TYPE_CHECKING:
    import datasets

NO_LABELS = "(none)"  # the stratum of a multi-label row without labels


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be classified (empty, or not encodable Unicode), or None."""
    if not text.strip():
        return "is empty or only whitespace"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        return f"holds a lone UTF-16 surrogate ({text[err.start]!r} at character {err.start}), which is not text"
    return None


def check_labeled_data(data: LabeledData, where: str) -> None:
    """Every split has a non-empty ``text`` and a ``label`` from ``data.labels`` (with ``multi_label``, a list of
    them without repeats); report the first bad row."""
    if len(set(data.labels)) < 2:
        raise DataError(f"{where}: needs at least two distinct labels, got {data.labels}")
    allowed = set(data.labels)
    for split, ds in data.splits.items():
        missing = {"text", "label"} - set(ds.column_names)
        if missing:
            raise DataError(f"{where}: split {split!r} lacks column(s) {sorted(missing)}; has {ds.column_names}")
        for i, (text, label) in enumerate(zip(ds["text"], ds["label"])):
            if not isinstance(text, str) or not text.strip():
                raise DataError(f"{where}: split {split!r} row {i}: empty text")
            if data.multi_label:
                if not isinstance(label, list) or len(set(label)) != len(label) or not set(label) <= allowed:
                    raise DataError(f"{where}: split {split!r} row {i}: labels {label!r} are not a list of distinct "
                                    f"labels from {sorted(allowed)}")
            elif label not in allowed:
                raise DataError(f"{where}: split {split!r} row {i}: label {label!r} is not one of {sorted(allowed)}")


def make_splits(data: LabeledData, cfg: SplitConfig, seed: int) -> dict[str, datasets.Dataset]:
    """``train``/``validation``/``test`` from the dataset's own splits where present, else carved from
    ``train``; each sampled down to its configured size, stratified by label, with ``seed``. A dataset's own
    test split smaller than ``test_size`` is used whole, a larger one sampled (both say so when not asked for)."""
    have = data.splits
    if "train" not in have and "test" not in have:
        raise DataError(f"dataset gave splits {sorted(have)}; expected 'train' and/or 'test'")
    out: dict[str, datasets.Dataset] = {}
    pool = have.get("train")
    if "test" in have:
        size, n = cfg.test_size, len(have["test"])
        if isinstance(size, int) and size > n:
            warnings.warn(f"the dataset's own test split has {n} examples, fewer than splits.test_size={size}: "
                          f"evaluating all {n}", GenclsWarning, stacklevel=2)
            size = n
        elif isinstance(size, int) and size < n and "test_size" not in cfg.model_fields_set:
            warnings.warn(f"the dataset's own test split has {n} examples; evaluating a stratified sample of "
                          f"{size} (the default splits.test_size); set splits.test_size={n} to evaluate them all",
                          GenclsWarning, stacklevel=2)
        out["test"], _ = _take(have["test"], size, data, seed, "splits.test_size")
    else:
        out["test"], pool = _take(pool, cfg.test_size, data, seed, "splits.test_size")
    if cfg.validation_size:
        if "validation" in have:
            out["validation"], _ = _take(have["validation"], cfg.validation_size, data, seed,
                                         "splits.validation_size")
        elif pool is not None:
            out["validation"], pool = _take(pool, cfg.validation_size, data, seed, "splits.validation_size")
    if pool is not None and len(pool):
        out["train"] = pool if cfg.train_size is None else _take(pool, cfg.train_size, data, seed,
                                                                  "splits.train_size")[0]
    return out


def strata(rows: list, data: LabeledData) -> tuple[list[str], list[str]]:
    """The class each row is stratified by, and the classes: its label; for multi-label data, the rarest of its
    labels in ``rows`` (``(none)`` for none), so every label's share is kept as well as one class a row allows."""
    if not data.multi_label:
        return list(rows), list(data.labels)
    counts = Counter(x for row in rows for x in row)
    picked = [min(row, key=lambda x: (counts[x], x)) if row else NO_LABELS for row in rows]
    return picked, [*data.labels, NO_LABELS]


def _take(ds: datasets.Dataset, size: int | float, data: LabeledData, seed: int,
          key: str) -> tuple[datasets.Dataset, datasets.Dataset]:
    """A stratified sample of ``size`` rows and the rest."""
    if isinstance(size, float) and not size.is_integer():
        if not 0 < size < 1:
            raise DataError(f"{key}={size}: a fraction must be between 0 and 1")
        n = max(1, round(size * len(ds)))
    else:
        n = int(size)
    if n <= 0:
        raise DataError(f"{key}={size}: must be positive")
    if n > len(ds):
        raise DataError(f"{key}={size}: only {len(ds)} examples are available")
    if n == len(ds):
        return ds, ds.select([])
    import datasets

    picked, labels = strata(list(ds["label"]), data)
    index = {label: i for i, label in enumerate(labels)}
    tagged = ds.add_column("_class", [index[x] for x in picked])
    tagged = tagged.cast_column("_class", datasets.ClassLabel(names=labels))
    counts = Counter(picked)
    present = len(counts)
    stratify = "_class" if present <= n <= len(ds) - present else None
    rare = {label: c for label, c in counts.items() if c < 2}
    if stratify and rare:
        warnings.warn(f"{key}: class(es) {', '.join(f'{k!r} ({c} example)' for k, c in rare.items())} have too few "
                      f"examples to stratify; splitting without stratification", GenclsWarning, stacklevel=2)
        stratify = None
    parts = tagged.train_test_split(test_size=n, seed=seed, stratify_by_column=stratify)
    return parts["test"].remove_columns("_class"), parts["train"].remove_columns("_class")


def overlap_checks(splits: dict[str, datasets.Dataset]) -> dict[str, int]:
    """Leakage and label conflicts across the final splits, texts compared with whitespace collapsed:
    ``<split>_in_train`` counts the evaluation examples whose text is also a training text; ``conflicting_texts``
    the distinct texts given two or more different labels anywhere. Each non-zero count is warned about."""
    seen: dict[str, set[Any]] = {}
    for ds in splits.values():
        for text, label in zip(ds["text"], ds["label"]):
            seen.setdefault(" ".join(text.split()), set()).add(frozenset(label) if isinstance(label, list) else label)
    train = {" ".join(t.split()) for t in splits["train"]["text"]} if "train" in splits else set()
    checks = {f"{name}_in_train": sum(" ".join(t.split()) in train for t in splits[name]["text"])
              for name in ("validation", "test") if name in splits}
    checks["conflicting_texts"] = sum(len(labels) > 1 for labels in seen.values())
    for key, count in checks.items():
        if not count:
            continue
        if key == "conflicting_texts":
            message = (f"{count} distinct text(s) appear with different labels; the data contradicts itself there "
                       f"(see data_checks in metrics.json)")
        else:
            split = key.removesuffix("_in_train")
            message = (f"{count} of {len(splits[split])} {split} examples also appear in the training split "
                       f"(leakage: their score overstates accuracy on unseen text); deduplicate the data")
        warnings.warn(message, GenclsWarning, stacklevel=3)
    return checks


def flip_labels(data: LabeledData, rate: float, seed: int) -> None:
    """Give ``round(rate * n)`` seeded training rows another class, drawn uniformly from the others, and record
    them in ``data.flipped``; the other splits are left clean."""
    import random

    if data.multi_label:
        raise DataError("splits.train_label_noise flips one label for another; it is not defined for multi-label "
                        "data (dataset.multi_label); set it to 0")
    train = data.splits["train"]
    count = round(rate * len(train))
    if not count:
        return
    rng = random.Random(f"label-noise-{seed}")
    rows = sorted(rng.sample(range(len(train)), count))
    labels = list(train["label"])
    for row in rows:
        given = rng.choice([c for c in data.labels if c != labels[row]])
        data.flipped.append({"row": row, "label": labels[row], "given": given})
        labels[row] = given
    data.splits["train"] = train.remove_columns("label").add_column("label", labels)


def label_counts(data: LabeledData, split: str) -> dict[str, int]:
    """Examples of each class in ``split`` (multi-label data: the texts holding each label)."""
    rows = data.splits[split]["label"]
    return dict(Counter(x for row in rows for x in row) if data.multi_label else Counter(rows))
