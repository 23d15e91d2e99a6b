"""``gencls serve``: a finished run (or an export) behind an HTTP API (FastAPI), its model loaded once.

Requests that arrive together are decoded together: the batcher waits up to ``max_wait_ms`` after the first
waiting request for more, up to ``max_batch`` texts, and makes one decoder call for all of them (one model
forward per batch instead of per request). A decoder whose predictions depend on the other texts of the call
(batch calibration fitted on the inputs) decodes each request alone, so a request's answer never depends on
its neighbours.
"""

import asyncio  # no `from __future__ import annotations`: FastAPI reads the endpoints' annotations
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, Field

from gencls_core.data import text_problem
from gencls_core.errors import DataError, UsageError
from gencls_core.inference import abstain_below, check_threshold_labels
from gencls_core.interfaces import Prediction

Predictor = Callable[[list[str]], list[Prediction]]


Probability = Annotated[float, Field(ge=0, le=1)]


class Request(BaseModel):
    """The body of ``POST /classify``."""

    texts: list[str] | str = Field(description="a text, or a non-empty list of texts, to classify")
    min_probability: Probability | dict[str, Probability] | None = Field(
        None, description="abstain (label null, status abstained) where the predicted label is less probable than "
                          "this: one number for every label, or {label: p} (a label left out is not thresholded)")


class Answer(BaseModel):
    """One text's prediction."""

    label: str | None = Field(description="the predicted class; null when the answer named no valid label")
    status: str
    probs: dict[str, float] | None = None
    scores: dict[str, float] | None = None
    output: str | None = None
    truncated: bool = Field(False, description="the text was cut to fit the model's prompt limit")
    windows: int = Field(1, description="windows the text was read in (long_text.policy chunks)")
    labels: list[str] | None = Field(None, description="multi-label runs: the predicted label set")


class Response(BaseModel):
    """The answer of ``POST /classify``: one prediction per text, in order."""

    predictions: list[Answer]


RETURN_SHARE = 0.05  # of the last call's time, the most a call waits for that call's clients to come back
LONG_TEXT = 4.0  # a request with a text this many times a call's median text (characters) is decoded after the rest


@dataclass
class Batcher:
    """Gathers concurrent requests into decoder calls of at most ``max_batch`` texts, one call at a time. Requests
    that arrived while a call ran form the next call at once; only a request reaching an idle decoder waits (up
    to ``max_wait_ms``) for company, and, while fewer texts have come than the last call answered (its clients,
    on their way back with their next requests), up to ``RETURN_SHARE`` of that call's time: under load the
    calls stay full instead of splitting into a partial one and its remainder. Requests with a much longer text
    than the rest (``LONG_TEXT``) are decoded in a call of their own after the others, which are answered first."""

    predictor: Predictor
    max_batch: int = 32
    max_wait_ms: float = 10.0
    merge: bool = True  # False: every request is its own call
    calls: int = 0  # decoder calls made (for /health and tests)
    _last: tuple[int, float] = field(default=(0, 0.0), repr=False)  # the last call's texts and seconds
    _queue: asyncio.Queue | None = field(default=None, repr=False)
    _worker: asyncio.Task | None = field(default=None, repr=False)

    async def submit(self, texts: list[str]) -> list[Prediction]:
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._worker = asyncio.create_task(self._work(self._queue))
        done = asyncio.get_running_loop().create_future()
        await self._queue.put((texts, done))
        return await done

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()

    async def _work(self, queue: asyncio.Queue) -> None:
        while True:
            backlog = not queue.empty()  # requests came while the last call ran: they have waited already
            batch = [await queue.get()]
            if self.merge:
                size = self._drain(queue, batch)
                if not backlog and size < self.max_batch:
                    await self._gather(queue, batch, size)
            try:
                await self._decode(batch)
            except Exception as err:
                if len(batch) == 1:
                    _settle(batch[0][1], error=err)
                    continue
                for item in batch:  # a merged call failed: each request alone, so only the bad ones fail
                    if item[1].done():  # answered by a call of shorter texts before the failing one
                        continue
                    try:
                        await self._decode([item])
                    except Exception as own:
                        _settle(item[1], error=own)

    async def _decode(self, batch: list) -> None:
        """The requests' texts in one decoder call (two, short ones first, when some are ``LONG_TEXT``)."""
        started, size = time.perf_counter(), 0
        try:
            for part in _short_first(batch):
                texts = [t for item, _ in part for t in item]
                self.calls += 1
                size += len(texts)
                predictions = await asyncio.to_thread(self.predictor, texts)
                start = 0
                for item, done in part:
                    _settle(done, result=predictions[start:start + len(item)])
                    start += len(item)
        finally:
            self._last = (size, time.perf_counter() - started)

    def _drain(self, queue: asyncio.Queue, batch: list) -> int:
        """Add the requests already waiting, up to ``max_batch`` texts (a request is never split); the size."""
        size = sum(len(texts) for texts, _ in batch)
        while size < self.max_batch and not queue.empty():
            item = queue.get_nowait()
            batch.append(item)
            size += len(item[0])
        return size

    async def _gather(self, queue: asyncio.Queue, batch: list, size: int) -> None:
        """Add requests as they arrive until ``max_batch`` texts or ``max_wait_ms`` after the first (while fewer
        texts are here than the last call had: up to ``RETURN_SHARE`` of its seconds, if that is longer)."""
        loop = asyncio.get_running_loop()
        short = loop.time() + self.max_wait_ms / 1000
        expected, seconds = self._last
        long = max(short, loop.time() + RETURN_SHARE * seconds)
        while size < self.max_batch:
            timeout = (long if size < expected else short) - loop.time()
            if timeout <= 0:
                break
            try:
                item = await asyncio.wait_for(queue.get(), timeout)
            except asyncio.TimeoutError:
                break
            batch.append(item)
            size += len(item[0])


def _short_first(batch: list) -> list[list]:
    """The requests of a call as one part, or two: those whose longest text is over ``LONG_TEXT`` times the
    median text's length after the others."""
    lengths = sorted(len(t) for item, _ in batch for t in item)
    limit = LONG_TEXT * max(lengths[len(lengths) // 2], 1)
    long = [max(map(len, item), default=0) > limit for item, _ in batch]
    parts = [[r for r, is_long in zip(batch, long) if not is_long], [r for r, is_long in zip(batch, long) if is_long]]
    return [part for part in parts if part]


def _settle(done: asyncio.Future, result: Any = None, error: BaseException | None = None) -> None:
    """Answer a request, unless its client has gone (its future cancelled)."""
    if done.done():
        return
    if error is not None:
        done.set_exception(error)
    else:
        done.set_result(result)


def _bad_text(texts: list[str]) -> str | None:
    """Why the request's texts cannot be classified (a run refuses the same texts), or None."""
    for i, text in enumerate(texts):
        problem = text_problem(text)
        if problem:
            return f"{'the text' if len(texts) == 1 else f'texts[{i}]'} {problem}; send text to classify"
    return None


def create_app(engine: Any, *, max_batch: int = 32, max_wait_ms: float = 10.0, max_texts: int = 256) -> Any:
    """The FastAPI app: ``POST /classify`` ``{"texts": [...]}``, ``GET /health``, ``GET /info``; docs at
    ``/docs``."""
    from contextlib import asynccontextmanager

    from fastapi import FastAPI, HTTPException
    from fastapi.encoders import jsonable_encoder
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.requests import Request as StarletteRequest

    labels = engine.recorded.get("data", {}).get("labels")
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_app):
        predictor = engine.predictor()
        predictor.warm_up()
        state["merge"] = predictor.shardable
        state["batcher"] = Batcher(predictor, max_batch=max_batch, max_wait_ms=max_wait_ms, merge=predictor.shardable)
        yield
        await state["batcher"].close()

    app = FastAPI(title="gencls", summary="Generative text classification with a trained gencls run",
                  lifespan=lifespan)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: StarletteRequest, err: RequestValidationError) -> JSONResponse:
        """FastAPI's 422, with a word on the content type when the body was not sent as JSON."""
        detail: Any = jsonable_encoder(err.errors())
        kind = request.headers.get("content-type", "")
        if not kind.split(";")[0].strip().lower().endswith("json"):
            detail = (f"the body must be JSON sent with the header content-type: application/json (got "
                      f"{kind or 'no content-type'}), e.g. {{\"texts\": [\"a text\"]}}")
        return JSONResponse({"detail": detail}, status_code=422)

    @app.post("/classify", response_model=Response)
    async def classify(request: Request) -> Response:
        """Classify the texts: one prediction per text, in order."""
        texts = [request.texts] if isinstance(request.texts, str) else request.texts
        if not texts:
            raise HTTPException(422, "texts is empty; send a text or a non-empty list of texts")
        if len(texts) > max_texts:
            raise HTTPException(413, f"{len(texts)} texts in one request; at most {max_texts} "
                                     f"(the server's --max-texts)")
        problem = _bad_text(texts)
        if problem:
            raise HTTPException(422, problem)
        try:
            if isinstance(request.min_probability, dict) and labels:  # before decoding: a bad request costs little
                check_threshold_labels(request.min_probability, labels, "min_probability")
            predictions = abstain_below(await state["batcher"].submit(texts), request.min_probability)
        except (UsageError, DataError) as err:  # e.g. a text over the limit under truncation policy: error
            raise HTTPException(422, str(err)) from None
        return Response(predictions=[Answer(label=p.label, status=p.status, probs=p.probs, scores=p.scores,
                                            output=p.output, truncated=p.truncated, windows=p.windows,
                                            labels=p.labels)
                                     for p in predictions])

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "decoder_calls": state["batcher"].calls}

    @app.get("/info")
    async def info() -> dict[str, Any]:
        """The classes, the run's metrics, and the components answering."""
        slots = engine.resolution.slots
        return {"labels": labels, "metrics": engine.recorded.get("metrics", {}),
                "model": engine.resolution.resolved_config()["model"],
                "trained_model": str(engine.trained_model) if engine.trained_model else None,
                "inference_prompt": slots["inference_prompt"].spec(),
                "inference_labels": slots["inference_labels"].spec(),
                "decoder": slots["decoder"].spec(), "max_batch": max_batch, "merges_requests": state["merge"]}

    return app
