import dataclasses

import pytest
import torch

from napari_bright4b.models.bright4b import Bright4B
from napari_bright4b.models.config import Bright4BConfig, HeadConfig, total_parameters
from napari_bright4b.models.presets import PRESETS


@pytest.mark.parametrize("name", ["nano", "small", "nano-router-context"])
def test_formula_matches_a_real_model(name):
    preset = PRESETS[name.removesuffix("-router-context")]
    config = preset.config
    if name.endswith("router-context"):
        config = dataclasses.replace(config, decoder_stem="pyramid", router_context=True)
    model = Bright4B(config, preset.head)
    assert sum(p.numel() for p in model.parameters()) == total_parameters(config, preset.head)
    counts = config.parameter_counts()
    assert sum(p.numel() for p in model.decoder.parameters()) == counts["decoder"]
    assert sum(p.numel() for b in model.blocks for p in b.moe.parameters()) == counts["moe"]
    assert config.context_width == (24 if config.router_context else 0)
    assert sum(p.numel() for b in model.blocks for p in b.attention.parameters()) == counts["attention"]


@pytest.mark.parametrize(
    "head",
    [
        HeadConfig(task="segment", class_names=("a", "b", "c"), activation="softmax"),
        HeadConfig(task="deblur", class_names=("sharp",)),
        HeadConfig(task="classify", class_names=("a", "b", "c", "d")),
    ],
)
def test_head_formula_matches_every_task(head):
    config = PRESETS["nano"].config
    model = Bright4B(config, head)
    assert sum(p.numel() for p in model.head.parameters()) == head.parameter_count(config)


@pytest.mark.parametrize("name", ["base", "full-4b"])
def test_formula_matches_large_models_built_on_the_meta_device(name):
    preset = PRESETS[name]
    with torch.device("meta"):
        model = Bright4B(preset.config, preset.head)
    assert sum(p.numel() for p in model.parameters()) == total_parameters(preset.config, preset.head)


def test_preset_sizes():
    sizes = {name: total_parameters(p.config, p.head) for name, p in PRESETS.items()}
    assert 0.7e6 <= sizes["nano"] <= 1.3e6
    assert 80e6 <= sizes["small"] <= 130e6
    assert sizes["small"] < sizes["base"] < sizes["full-4b"]
    assert 3.5e9 <= sizes["full-4b"] <= 4.1e9
    full = PRESETS["full-4b"].config
    assert (full.dim, full.depth, full.heads, full.num_experts, full.expert_hidden, full.streams) == (
        512,
        12,
        8,
        72,
        4096,
        2,
    )


def test_config_round_trips_and_rejects_bad_values():
    config = PRESETS["nano"].config
    assert Bright4BConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown backbone config keys"):
        Bright4BConfig.from_dict({**config.to_dict(), "colour": 3})
    with pytest.raises(ValueError, match="multiple of 4"):
        Bright4BConfig(depth=6)
    with pytest.raises(ValueError, match="activation"):
        HeadConfig(activation="relu")
    for bad in (dict(kappa=0), dict(kv_heads=0), dict(depth=4.0), dict(brick=(2, 0, 4)), dict(attention="flash")):
        with pytest.raises(ValueError):
            Bright4BConfig(**bad)
    with pytest.raises(ValueError, match="use decoder_stem 'hybrid' or 'pyramid'"):
        Bright4BConfig(router_context=True, decoder_stem="unetr")
    with pytest.raises(ValueError, match="window_radius"):
        Bright4BConfig(window_radius=(1, 1))
    with pytest.raises(ValueError, match="list of names"):
        HeadConfig(class_names="nuclei")
    with pytest.raises(ValueError, match="at least 2 classes"):
        HeadConfig(task="classify", class_names=("one",))
    with pytest.raises(ValueError, match="must be one of \\('identity',\\)"):
        HeadConfig(task="deblur", activation="sigmoid")
    with pytest.raises(ValueError, match="1 channel"):
        HeadConfig(task="deblur", class_names=("a", "b")).check_fits(PRESETS["nano"].config)
    assert HeadConfig(task="classify", class_names=("a", "b")).activation == "softmax"


def test_a_multiplicative_correction_round_trips_and_is_checked():
    head = HeadConfig("deblur", ("sharp",), correction="multiplicative")
    assert HeadConfig.from_dict(head.to_dict()) == head and head.same_weights(HeadConfig("deblur", ("sharp",)))
    assert "correction" not in HeadConfig("deblur", ("sharp",)).to_dict()  # cards without it read as before
    with pytest.raises(ValueError, match="for a deblurring head, not a 'segment'"):
        HeadConfig(correction="multiplicative")
    with pytest.raises(ValueError, match="correction must be one of \\('additive', 'multiplicative'\\)"):
        HeadConfig("deblur", ("sharp",), correction="log")
