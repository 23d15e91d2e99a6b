"""YAML read as data, with a budget: aliases may not expand a document beyond ``MAX_NODES`` values.

``yaml.safe_load`` builds no objects of arbitrary classes, but a "billion laughs" document of a few hundred bytes
(each level aliasing the one before nine times) expands to millions of values in whatever walks it next (our
config checks, ``json.dumps``). The node graph is measured before any object is built.
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_NODES = 100_000


class YamlTooLarge(ValueError):
    """A YAML document whose aliases expand beyond the budget, or refer to themselves."""


def load_yaml(text: str, *, strings: bool = False, max_nodes: int = MAX_NODES) -> Any:
    """``yaml.safe_load(text)``, refusing documents that expand to more than ``max_nodes`` values; with
    ``strings``, every scalar stays the string it is written as (``true``, ``01``, ``NA`` are not converted)."""
    loader = (yaml.BaseLoader if strings else yaml.SafeLoader)(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, max_nodes, {}, set())
        return loader.construct_document(node)
    except RecursionError:
        raise YamlTooLarge("it is nested too deeply") from None
    finally:
        loader.dispose()


def _expanded_size(node: yaml.Node, budget: int, sizes: dict[int, int], open_: set[int]) -> int:
    """How many values ``node`` becomes once every alias is expanded (memoised per node)."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_:
        raise YamlTooLarge("an alias refers to a value that contains it (a recursive document)")
    open_.add(key)
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(child, budget, sizes, open_) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, budget, sizes, open_) + _expanded_size(v, budget, sizes, open_)
                    for k, v in node.value)
    open_.discard(key)
    if size > budget:
        raise YamlTooLarge(f"its aliases expand it to more than {budget:,} values (an alias bomb?); write the "
                           f"values out instead of aliasing them")
    sizes[key] = size
    return size
