"""Label-space policy optimisation: the exact expected-reward gradient over the K label answers."""

from gencls_plugins.trainers.label_pg.trainer import LabelPG

__all__ = ["LabelPG"]
