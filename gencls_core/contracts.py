"""Checks of what components return, shared by the engine and the plugin-author test kit.

Each raises ContractError naming the component (``who``) and what was expected.
"""

from __future__ import annotations

import math
from typing import Any

from gencls_core.errors import ContractError
from gencls_core.interfaces import Prediction


def check_predictions(who: str, predictions: Any, n: int, labels: list[str]) -> list[Prediction]:
    """One Prediction per prompt, each label None or a known class."""
    if not isinstance(predictions, list) or len(predictions) != n or \
            not all(isinstance(p, Prediction) for p in predictions):
        got = len(predictions) if isinstance(predictions, list) else type(predictions).__name__
        raise ContractError(f"{who} returned {got} items for {n} prompts; expected one Prediction each")
    bad = [p.label for p in predictions if p.label is not None and p.label not in labels]
    if bad:
        raise ContractError(f"{who} predicted unknown label {bad[0]!r}; labels: {labels}")
    for i, p in enumerate(predictions):
        for field in ("scores", "probs"):
            values = getattr(p, field) or {}
            wrong = {k: v for k, v in values.items() if math.isnan(v) or (field == "probs" and not math.isfinite(v))}
            if wrong:
                raise ContractError(f"{who} returned non-finite {field} {wrong} for input {i}: the model's outputs "
                                    f"are not numbers (were its weights trained into NaN?), so no label is chosen")
    return predictions


def check_metrics(who: str, values: Any) -> dict[str, Any]:
    """A dict of metrics keyed by name."""
    if not isinstance(values, dict) or not all(isinstance(k, str) for k in values):
        raise ContractError(f"{who} returned {type(values).__name__}, expected a dict of metrics")
    return values


def check_rewards(who: str, values: Any, n: int) -> list[float | None]:
    """TRL's reward contract: one finite float (or None, 'not applicable') per completion."""
    if not isinstance(values, list) or len(values) != n:
        got = len(values) if isinstance(values, list) else type(values).__name__
        raise ContractError(f"{who} returned {got} rewards for {n} completions; expected a list of {n}")
    for i, v in enumerate(values):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise ContractError(f"{who} returned {v!r} ({type(v).__name__}) at position {i}; "
                                f"expected a float or None")
        if v is not None and not math.isfinite(v):
            raise ContractError(f"{who} returned {v!r} at position {i}; rewards must be finite numbers (or None "
                                f"for 'not applicable')")
    return values


def check_messages(who: str, messages: Any, text: str) -> list[dict[str, str]]:
    """Chat messages (role/content strings) ending with a user turn that contains the input text."""
    ok = isinstance(messages, list) and messages and all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
        for m in messages)
    if not ok:
        raise ContractError(f"{who} must return a non-empty list of {{'role': str, 'content': str}} messages, "
                            f"got {messages!r:.200}")
    if messages[-1]["role"] != "user":
        raise ContractError(f"{who}: the last message must be the user's, got {messages[-1]['role']!r}")
    if text not in "".join(m["content"] for m in messages):
        raise ContractError(f"{who}: the input text does not appear in the messages")
    return messages
