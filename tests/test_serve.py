"""`gencls serve`: the HTTP API answers as `predict` does, merges concurrent requests, refuses bad input."""

import asyncio
import json

import pytest
from fastapi.testclient import TestClient

from gencls_core import Engine
from gencls_core.interfaces import Prediction
from gencls_core.serve import Batcher, create_app

TEXTS = ["a good superb film", "dull and boring", "lovely", "awful poor thing"]


@pytest.fixture
def trained_run(tiny_run_config):
    config = {**tiny_run_config, "trainers": [{"name": "sft", "max_steps": 4, "learning_rate": 1e-2}]}
    return Engine(config).run().run_dir


def test_predict_endpoint_answers_as_engine_predict(trained_run):
    expected = Engine.from_run_dir(trained_run).predict(TEXTS)
    with TestClient(create_app(Engine.from_run_dir(trained_run), max_texts=4)) as client:
        response = client.post("/classify", json={"texts": TEXTS})
        assert response.status_code == 200, response.text
        got = response.json()["predictions"]
        assert [g["label"] for g in got] == [p.label for p in expected]
        for g, p in zip(got, expected):
            assert g["probs"] == pytest.approx(p.probs, abs=1e-5)
        one = client.post("/classify", json={"texts": TEXTS[0]}).json()["predictions"]
        assert [p["label"] for p in one] == [expected[0].label]
        info = client.get("/info").json()
        assert info["labels"] == ["negative", "positive"] and info["trained_model"].endswith("stages/1-sft/model")
        assert info["metrics"]["accuracy"] == pytest.approx(
            json.loads((trained_run / "metrics.json").read_text())["accuracy"])
        assert client.get("/health").json() == {"status": "ok", "decoder_calls": 2}
        assert client.post("/classify", json={"texts": []}).status_code == 422
        assert client.post("/classify", json={"texts": [3]}).status_code == 422
        too_many = client.post("/classify", json={"texts": TEXTS + ["x"]})
        assert too_many.status_code == 413 and "at most 4" in too_many.json()["detail"]
        # a threshold between the least and the most confident prediction: those under it abstain
        top = [max(p.probs.values()) for p in expected]
        cut = (min(top) + max(top)) / 2
        sure = client.post("/classify", json={"texts": TEXTS, "min_probability": cut}).json()["predictions"]
        assert [(g["label"], g["status"]) for g in sure] == [
            (p.label, "ok") if t >= cut else (None, "abstained") for p, t in zip(expected, top)]
        assert sure[top.index(min(top))]["probs"] == pytest.approx(expected[top.index(min(top))].probs, abs=1e-5)
        assert client.post("/classify", json={"texts": TEXTS, "min_probability": 2}).status_code == 422
        first = expected[0].label  # per label: only that label's answers are thresholded
        per_label = client.post("/classify", json={"texts": TEXTS, "min_probability": {first: 1.0}}).json()
        assert [g["label"] for g in per_label["predictions"]] == [None if p.label == first else p.label
                                                                   for p in expected]
        unknown = client.post("/classify", json={"texts": TEXTS, "min_probability": {"neutral": 0.5}})
        assert unknown.status_code == 422 and "['neutral'], which are not labels" in unknown.json()["detail"]


def _labels(texts):
    return [Prediction(label=t, status="ok") for t in texts]


@pytest.mark.parametrize(("merge", "calls"), [(True, 1), (False, 5)])
def test_concurrent_requests_share_one_decoder_call_unless_the_decoder_forbids_it(merge, calls):
    seen = []

    def predictor(texts):
        seen.append(list(texts))
        return _labels(texts)

    async def clients():
        batcher = Batcher(predictor, max_batch=64, max_wait_ms=200, merge=merge)
        requests = [[f"{i}-{j}" for j in range(i + 1)] for i in range(5)]
        answers = await asyncio.gather(*[batcher.submit(r) for r in requests])
        await batcher.close()
        return requests, answers

    requests, answers = asyncio.run(clients())
    assert [[p.label for p in a] for a in answers] == requests  # each request gets its own answers, in order
    assert len(seen) == calls and sum(map(len, seen)) == 15


def test_max_batch_splits_calls_and_a_failing_text_fails_only_its_own_request():
    def predictor(texts):
        if "bad" in texts:
            raise RuntimeError("decoder broke")
        return _labels(texts)

    async def clients():
        batcher = Batcher(predictor, max_batch=2, max_wait_ms=100)
        results = await asyncio.gather(batcher.submit(["a", "b"]), batcher.submit(["bad"]),
                                       batcher.submit(["c"]), return_exceptions=True)
        calls = batcher.calls
        await batcher.close()
        return results, calls

    results, calls = asyncio.run(clients())
    assert [p.label for p in results[0]] == ["a", "b"]  # a full call of its own
    assert isinstance(results[1], RuntimeError) and [p.label for p in results[2]] == ["c"]
    assert calls == 4  # [a, b]; [bad, c] failed, so bad alone and c alone


def test_a_long_text_is_decoded_after_the_short_ones_of_its_call_and_fails_alone():
    seen = []

    def predictor(texts):
        seen.append(list(texts))
        if any(t.startswith("bad") for t in texts):
            raise RuntimeError("decoder broke")
        return _labels(texts)

    async def clients(long_text):
        batcher = Batcher(predictor, max_batch=64, max_wait_ms=100)
        results = await asyncio.gather(batcher.submit(["short one"]), batcher.submit([long_text]),
                                       batcher.submit(["short two", "tiny"]), return_exceptions=True)
        await batcher.close()
        return results

    results = asyncio.run(clients("long " * 200))
    assert seen == [["short one", "short two", "tiny"], ["long " * 200]]  # the short ones first, in one call
    assert [[p.label for p in r] for r in results] == [["short one"], ["long " * 200], ["short two", "tiny"]]
    seen.clear()
    results = asyncio.run(clients("bad " * 200))
    assert [p.label for p in results[0]] == ["short one"] and isinstance(results[1], RuntimeError)
    assert seen == [["short one", "short two", "tiny"], ["bad " * 200], ["bad " * 200]]  # no short text again


def test_an_over_long_text_under_truncation_policy_error_is_a_422_and_fails_only_its_request(trained_run):
    engine = Engine.from_run_dir(trained_run, overrides=["truncation.policy=error", "truncation.max_prompt_tokens=60"])
    app = create_app(engine, max_wait_ms=300)
    with TestClient(app) as client:
        long = " ".join(["good"] * 400)

        async def both():
            import httpx

            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gencls") as http:
                return await asyncio.gather(http.post("/classify", json={"texts": [long]}),
                                            http.post("/classify", json={"texts": ["fine"]}))

        assert client.get("/health").status_code == 200  # the lifespan has started the batcher
        bad, good = asyncio.run(both())
        assert bad.status_code == 422 and "over the limit" in bad.json()["detail"]
        assert good.status_code == 200 and len(good.json()["predictions"]) == 1


def test_a_request_whose_client_left_does_not_stop_the_batcher():
    async def clients():
        batcher = Batcher(_labels, max_batch=64, max_wait_ms=100)
        gone = asyncio.ensure_future(batcher.submit(["left"]))
        await asyncio.sleep(0.01)
        gone.cancel()  # the client disconnects while its request waits for company
        answer = await asyncio.wait_for(batcher.submit(["stayed"]), 10)
        later = await asyncio.wait_for(batcher.submit(["later"]), 10)  # a dead worker would never answer
        await batcher.close()
        return answer, later

    answer, later = asyncio.run(clients())
    assert [p.label for p in answer] == ["stayed"] and [p.label for p in later] == ["later"]


def test_requests_that_arrive_during_a_call_form_the_next_call_without_waiting():
    import time

    seen = []

    def slow(texts):  # a decoder call that takes 0.3 s
        seen.append((time.monotonic(), list(texts)))
        time.sleep(0.3)
        return _labels(texts)

    async def clients():
        batcher = Batcher(slow, max_batch=64, max_wait_ms=2000)  # an idle decoder would wait up to 2 s
        first = asyncio.ensure_future(batcher.submit(["a"]))
        while not seen:  # the first call has started (after its own wait for company)
            await asyncio.sleep(0.01)
        rest = [asyncio.ensure_future(batcher.submit([t])) for t in ("b", "c", "d")]
        answers = await asyncio.gather(first, *rest)
        await batcher.close()
        return answers

    start = time.monotonic()
    answers = asyncio.run(clients())
    assert [[p.label for p in a] for a in answers] == [["a"], ["b"], ["c"], ["d"]]
    assert [texts for _, texts in seen] == [["a"], ["b", "c", "d"]]  # the backlog is one call
    assert seen[1][0] - seen[0][0] < 0.3 + 1.0  # it started when the first call ended, not max_wait_ms later
    assert time.monotonic() - start < 2.0 + 0.3 + 0.3 + 1.0


@pytest.mark.parametrize(("share", "full"), [(0.5, True), (0.0, False)])
def test_under_load_the_clients_of_a_call_coming_back_form_one_full_call(monkeypatch, share, full):
    import random
    import time

    from gencls_core import serve

    monkeypatch.setattr(serve, "RETURN_SHARE", share)
    seen = []

    def slow(texts):  # a 0.2 s decoder call
        seen.append(len(texts))
        time.sleep(0.2)
        return _labels(texts)

    async def clients(rounds=4, n=8):
        batcher = Batcher(slow, max_batch=64, max_wait_ms=5)
        rng = random.Random(0)

        async def client(i):
            for r in range(rounds):
                await batcher.submit([f"{i}-{r}"])
                await asyncio.sleep(rng.uniform(0.01, 0.06))  # the answer's way back and the next request's

        await asyncio.gather(*[client(i) for i in range(8)])
        await batcher.close()

    asyncio.run(clients())
    assert sum(seen) == 32
    assert (seen == [8, 8, 8, 8]) == full  # without waiting for them, the calls split
