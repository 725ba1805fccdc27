import dataclasses
import math

import pytest
import torch

from napari_bright4b.analysis.capture import capturing
from napari_bright4b.errors import BadInputError
from napari_bright4b.models.bright4b import Bright4B, stem_under_tokens
from napari_bright4b.models.config import HeadConfig
from napari_bright4b.models.heads import DeblurHead, activate, scale_positive
from napari_bright4b.models.presets import PRESETS
from napari_bright4b.nn.hypersphere import renormalize_

NANO = PRESETS["nano"].config
HEAD = HeadConfig(class_names=("nuclei", "nucleoli"))


@pytest.fixture(scope="module")
def nano():
    torch.manual_seed(0)
    return Bright4B(NANO, HEAD)


def test_token_states_are_unit_norm_after_every_block(nano):
    outputs = []
    hooks = [block.register_forward_hook(lambda m, i, o: outputs.append(o)) for block in nano.blocks]
    try:
        with torch.no_grad():
            nano(torch.randn(1, 1, 8, 64, 64))
    finally:
        for hook in hooks:
            hook.remove()
    assert len(outputs) == NANO.depth
    for streams in outputs:
        assert streams.shape[1] == NANO.streams
        assert torch.allclose(streams.norm(dim=-1), torch.ones(streams.shape[:-1]), atol=1e-4)


@pytest.mark.parametrize("shape", [(1, 17, 33), (5, 64, 70), (3, 16, 16), (9, 100, 31)])
def test_any_input_shape_round_trips(nano, shape):
    with torch.no_grad():
        out = nano(torch.randn(2, 1, *shape))
    assert out.shape == (2, 2, *shape)
    assert torch.isfinite(out).all()


def test_encoder_lattice_follows_the_padded_input(nano):
    with torch.no_grad():
        encoded = nano.encode(torch.randn(1, 1, 8, 64, 128))
    assert encoded.lattice.shape == (4, 4, 8)
    assert encoded.token_map(0).shape == (1, NANO.dim, 4, 4, 8)


def test_rejects_inputs_it_cannot_use(nano):
    with pytest.raises(BadInputError, match="expected a non-empty input"):
        nano(torch.randn(1, 2, 4, 64, 64))
    with pytest.raises(BadInputError, match="expected a non-empty input"):
        nano(torch.randn(1, 1, 0, 64, 64))
    with pytest.raises(BadInputError, match="torch.float64"):
        nano(torch.randn(1, 1, 4, 64, 64, dtype=torch.float64))


@pytest.mark.parametrize("router_context", [False, True])
def test_training_step_decreases_the_loss_and_reaches_every_parameter(router_context):
    torch.manual_seed(1)
    model = Bright4B(dataclasses.replace(NANO, router_context=router_context), HeadConfig())
    x = torch.randn(1, 1, 4, 128, 64)  # 2 NSA blocks: with one, compressed keys cannot matter
    target = (x > 0.5).float()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for step in range(6):
        optimizer.zero_grad()
        logits = model(x)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, target) + model.balance_loss()
        loss.backward()
        if step == 0:
            for name, param in model.named_parameters():
                assert param.grad is not None and param.grad.abs().sum() > 0, f"no gradient for {name}"
        optimizer.step()
        renormalize_(model)
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_dense_attention_variant_builds_and_runs():
    model = Bright4B(dataclasses.replace(NANO, attention="dense"), HEAD)
    with torch.no_grad():
        assert model(torch.randn(1, 1, 4, 64, 64)).shape == (1, 2, 4, 64, 64)


def test_deblur_head_is_a_residual_on_the_input_and_classification_gives_one_distribution_per_volume():
    torch.manual_seed(2)
    x = torch.randn(2, 1, 4, 32, 48)
    deblur = Bright4B(NANO, HeadConfig(task="deblur", class_names=("deblurred",))).eval()
    with torch.no_grad():
        assert deblur(x).shape == x.shape and not torch.equal(deblur(x), x)
        for param in deblur.head.parameters():
            param.zero_()
        assert torch.equal(activate(deblur.head_config, deblur(x)), x)  # a zero residual is the identity
    classify = Bright4B(NANO, HeadConfig(task="classify", class_names=("nuclear", "vessel", "plaque"))).eval()
    with torch.no_grad():
        probs = activate(classify.head_config, classify(x))
    assert probs.shape == (2, 3)
    assert torch.allclose(probs.sum(1), torch.ones(2)) and (probs > 0).all()


def test_a_multiplicative_deblur_head_lays_no_light_on_a_dark_field_and_bounds_its_gain():
    head = DeblurHead(NANO, HeadConfig("deblur", ("sharp",), correction="multiplicative"))
    image = torch.rand(1, 1, 6, 20, 20)
    image[..., :10] = torch.linspace(-0.2, 0.0, 10)  # a dark half: noise at or below the black level 0
    features = torch.randn(1, NANO.decoder_features, 6, 20, 20, requires_grad=True)
    restored = head(features, image, None)
    torch.testing.assert_close(restored[..., :10], image[..., :10])  # nothing laid where there is none
    bound = math.log(20.0)
    gain = torch.exp(bound * torch.tanh(head.out(features)[..., 10:] / bound))
    assert not torch.allclose(gain, torch.ones_like(gain))
    torch.testing.assert_close(restored[..., 10:], image[..., 10:] * gain)
    restored.sum().backward()
    assert features.grad.abs().sum() > 0
    ones = torch.ones(3)
    torch.testing.assert_close(scale_positive(ones, torch.tensor([-1e4, 0.0, 1e4])), torch.tensor([0.05, 1.0, 20.0]))


def test_classification_trains_every_parameter():
    torch.manual_seed(3)
    model = Bright4B(NANO, HeadConfig(task="classify", class_names=("a", "b")))
    loss = torch.nn.functional.cross_entropy(model(torch.randn(2, 1, 4, 64, 64)), torch.tensor([0, 1]))
    (loss + model.balance_loss()).backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, f"no gradient for {name}"


def test_routers_read_the_stem_averaged_under_each_token():
    torch.manual_seed(3)
    model = Bright4B(dataclasses.replace(NANO, router_context=True), HEAD).eval()
    x = torch.randn(1, 1, 4, 32, 64)
    level = model.decoder.stem(x)[-1]  # hybrid stem: half resolution, (1, 12, 2, 16, 32)
    under = stem_under_tokens(level, (2, 2, 4))
    assert under.shape == (1, 16, 12)
    torch.testing.assert_close(under[0, 5], level[0, :, 0, 8:16, 8:16].mean((1, 2)))  # token (0, 1, 1)
    with capturing(model) as captured, torch.no_grad():
        model(x)
        silent = captured.combine[0].clone()
        model.blocks[0].moe.router_context.normal_()
        model(x)
    assert not torch.allclose(captured.combine[0], silent)  # the inspection sees the routing the context sets
