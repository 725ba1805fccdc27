import pytest
import torch

from napari_bright4b.models.card import ModelCard
from napari_bright4b.models.checkpoint import build_model, load_checkpoint, save_checkpoint
from napari_bright4b.models.config import HeadConfig
from napari_bright4b.models.presets import PRESETS
from napari_bright4b.nn.adapters import LowRankDelta, adapters, merge_adapters, unit_norm_dim
from napari_bright4b.nn.hypersphere import renormalize_
from napari_bright4b.training.finetune.adaptation import set_mode

CARD = ModelCard(name="a", config=PRESETS["nano"].config, head=HeadConfig("segment", ("x",)), tile=(8, 64, 64))


def adapted_model():
    model = build_model(CARD).eval()
    set_mode(model, "adapter", rank=3)
    return model


def randomize(model):
    """Factors as after some training (up starts at zero, which would hide any mistake)."""
    with torch.no_grad():
        for delta in adapters(model):
            delta.up.normal_(0, 0.05)
            delta.down.normal_(0, 0.3)


def effective_weights(model):
    """Every adapted weight as the model reads it, with the dimension it is kept unit-norm along."""
    return {
        (id(m), name): (getattr(m, name).detach().clone(), unit_norm_dim(m, name))
        for m in model.modules()
        if hasattr(m, "parametrizations")
        for name in m.parametrizations
    }


def test_adapters_start_as_the_identity():
    torch.manual_seed(0)
    base = build_model(CARD).eval()
    model = build_model(CARD).eval()
    model.load_state_dict(base.state_dict())
    set_mode(model, "adapter", rank=3)
    x = torch.randn(1, 1, 8, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), base(x), rtol=0, atol=1e-5)  # renormalizing a unit weight rounds


def test_adapters_cover_attention_and_experts_with_per_expert_factors():
    model = adapted_model()
    deltas = adapters(model)
    config = CARD.config
    assert len(deltas) == config.depth * 6  # q, k, v, o and the experts' w_in and w_out per layer
    moe = model.blocks[0].moe
    w_in = moe.parametrizations.w_in
    assert w_in[0].up.shape == (config.num_experts, config.dim, 3)
    assert w_in[0].down.shape == (config.num_experts, 3, config.expert_hidden)
    assert not w_in.original.requires_grad and w_in[0].up.requires_grad
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert all(".parametrizations." in n or n.startswith(("head.", "decoder.decoder2.")) for n in trainable)


def test_adapted_weights_stay_unit_norm_whatever_the_factors():
    model = adapted_model()
    randomize(model)
    before = effective_weights(model)
    checked = 0
    for weight, dim in before.values():
        if dim is not None:
            norms = weight.norm(dim=dim)
            torch.testing.assert_close(norms, torch.ones_like(norms), atol=1e-5, rtol=0)
            checked += 1
    assert checked == CARD.config.depth * 6  # every adapted weight is one nGPT keeps on the sphere
    renormalize_(model)  # the trainer's projection leaves the frozen base weights as they are
    for key, (weight, _) in effective_weights(model).items():
        torch.testing.assert_close(weight, before[key][0], rtol=0, atol=0)


def test_merged_model_computes_what_the_adapted_model_computes(tmp_path):
    torch.manual_seed(1)
    model = adapted_model()
    randomize(model)
    x = torch.randn(2, 1, 8, 64, 64)
    with torch.no_grad():
        adapted = model(x)
    assert merge_adapters(model) == CARD.config.depth * 6
    assert not adapters(model) and not any(hasattr(m, "parametrizations") for m in model.modules())
    assert set(model.state_dict()) == set(build_model(CARD, "meta").state_dict())
    save_checkpoint(model, CARD, tmp_path / "merged.safetensors")
    loaded, _ = load_checkpoint(tmp_path / "merged.safetensors")
    with torch.no_grad():
        torch.testing.assert_close(model(x), adapted, rtol=0, atol=1e-5)
        torch.testing.assert_close(loaded(x), adapted, rtol=0, atol=1e-5)
    assert (loaded(x) - build_model(CARD).eval()(x)).abs().max() > 1e-3  # the adapters did change something


def test_low_rank_delta_is_a_scaled_product():
    delta = LowRankDelta(torch.Size((5, 7)), rank=2, alpha=4.0, unit_dim=None)
    with torch.no_grad():
        delta.up.normal_()
    weight = torch.randn(5, 7)
    torch.testing.assert_close(delta(weight), weight + 2.0 * delta.up @ delta.down)
    with pytest.raises(ValueError, match="mode"):
        set_mode(build_model(CARD), "everything")
