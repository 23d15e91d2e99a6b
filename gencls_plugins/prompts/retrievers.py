"""Ranking training texts by cosine similarity to a query: TF-IDF, or mean-pooled hidden states of an
embedding model or of the run's own LM."""

from __future__ import annotations

from typing import Any

import numpy as np


class TfidfRetriever:
    """TF-IDF vectors (scikit-learn), sublinear term frequencies, L2-normalised."""

    def __init__(self, texts: list[str]) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vectorizer = TfidfVectorizer(sublinear_tf=True)
        self.matrix = self.vectorizer.fit_transform(texts)

    def similarities(self, text: str) -> np.ndarray:
        return (self.matrix @ self.vectorizer.transform([text]).T).toarray().ravel()


class HiddenStateRetriever:
    """Mean-pooled last hidden states of ``model`` (a sentence encoder or a causal LM), L2-normalised."""

    def __init__(self, texts: list[str], model: Any, tokenizer: Any, batch_size: int = 16,
                 max_length: int = 256) -> None:
        self.model, self.tokenizer, self.max_length = model, tokenizer, max_length
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.matrix = np.concatenate([self.embed(texts[i:i + batch_size]) for i in range(0, len(texts), batch_size)])

    def embed(self, texts: list[str]) -> np.ndarray:
        import torch

        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                               return_tensors="pt").to(self.model.device)
        with torch.no_grad():
            hidden = self.model(**batch, output_hidden_states=True).hidden_states[-1]
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        return torch.nn.functional.normalize(pooled.float(), dim=-1).cpu().numpy()

    def similarities(self, text: str) -> np.ndarray:
        return self.matrix @ self.embed([text])[0]


def load_encoder(name_or_path: str) -> tuple[Any, Any]:
    """A sentence-embedding model and its tokenizer, from the hub or a local folder."""
    from transformers import AutoModel, AutoTokenizer

    return AutoModel.from_pretrained(name_or_path).eval(), AutoTokenizer.from_pretrained(name_or_path)
