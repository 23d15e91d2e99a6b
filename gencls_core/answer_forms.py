"""The answer forms a prompt can ask for: the instruction appended to the prompt, and a gold answer written
in that form (what training stages teach)."""

from __future__ import annotations

FORMS = ("direct", "think", "gta")
INSTRUCTIONS = {
    "think": ("First think step by step inside <think></think>, then give the label inside <answer></answer>, "
              "e.g. <think>...</think><answer>{example}</answer>."),
    "gta": ("First guess the label inside <guess></guess>, then think step by step inside <think></think>, then "
            "give the final label inside <answer></answer>, e.g. <guess>{example}</guess><think>...</think>"
            "<answer>{example}</answer>."),
}


def gold_answer(form: str, answer: str, rationale: str = "") -> str:
    """``answer`` (a label's answer text) written in ``form``, with ``rationale`` as the reasoning."""
    if form == "direct":
        return answer
    if form == "think":
        return f"<think>{rationale}</think><answer>{answer}</answer>"
    if form == "gta":
        return f"<guess>{answer}</guess><think>{rationale}</think><answer>{answer}</answer>"
    raise ValueError(f"unknown answer form {form!r}; use one of {FORMS}")
