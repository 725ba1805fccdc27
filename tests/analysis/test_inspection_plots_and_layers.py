"""An inspection as napari LayerData and as plots, from a hand-made inspection."""

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from napari_bright4b.analysis.inspection import Inspection
from napari_bright4b.analysis.plots import depth_figure, draw_expert_usage, draw_routing_entropy, write_plots
from napari_bright4b.analysis.token_grid import TokenGrid
from napari_bright4b.layers.inspection_layers import inspection_layers
from napari_bright4b.layers.layer_data import LayerInput


@pytest.fixture
def inspection():
    rng = np.random.default_rng(0)
    tokens = (3, 4, 5)
    usage = rng.dirichlet(np.ones(6), size=(2, *tokens)).astype(np.float32)  # 2 layers, 6 experts
    grid = TokenGrid((6, 64, 80), (0.5, 0.2, 0.2), (6, 64, 80), (2, 16, 16))
    return Inspection(
        model="m",
        grid=grid,
        entropy=rng.random((2, *tokens)).astype(np.float32),
        usage=np.moveaxis(usage, -1, 1),
        gates=rng.random((2, 3, *tokens)).astype(np.float32),
        pca={2: rng.integers(0, 256, (*tokens, 3), dtype=np.uint8)},
        tiles=1,
        seconds=0.1,
        device="cpu",
    )


def test_layers_sit_on_the_token_grid_with_a_layer_slider(inspection):
    source = LayerInput("img", None, (0.5, 0.2, 0.2), (0.5, 0.2, 0.2), (10.0, 0.0, -4.0))
    layers = {kwargs["name"]: (data, kwargs, kind) for data, kwargs, kind in inspection_layers(inspection, source)}
    names = ["routing entropy", "dominant expert", "compression gate", "selection gate", "window gate"]
    assert list(layers) == [f"img · m · {n}" for n in [*names, "expert usage", "PCA layer 2"]]
    data, kwargs, kind = layers["img · m · routing entropy"]
    assert kind == "image" and data is inspection.entropy and kwargs.get("visible", True)
    assert kwargs["scale"] == pytest.approx((1.0, 1.0, 3.2, 3.2)) and kwargs["translate"] == pytest.approx(
        (1.0, 10.25, 1.5, -2.5)
    )
    assert kwargs["axis_labels"] == ("transformer layer", "z", "y", "x")
    assert kwargs["metadata"]["bright4b"] == {
        "input": "img",
        "model": "m",
        "output": "routing entropy",
        "run": "inspect",
    }
    labels, kwargs, kind = layers["img · m · dominant expert"]
    assert kind == "labels" and labels.min() >= 1 and not kwargs["visible"]
    np.testing.assert_array_equal(labels, inspection.usage.argmax(1) + 1)
    assert list(kwargs["features"]["expert"]) == list(range(6))
    gate, kwargs, _ = layers["img · m · selection gate"]
    np.testing.assert_array_equal(gate, inspection.gates[:, 1])
    assert kwargs["contrast_limits"] == (gate.min(), gate.max()) and kwargs["blending"] == "additive"
    usage, kwargs, _ = layers["img · m · expert usage"]
    assert usage.shape == (6, 2, 3, 4, 5) and kwargs["axis_labels"][:2] == ("expert", "transformer layer")
    assert kwargs["translate"][:2] == (0.0, 1.0)
    rgb, kwargs, _ = layers["img · m · PCA layer 2"]
    assert kwargs["rgb"] and kwargs["scale"] == pytest.approx((1.0, 3.2, 3.2)) and rgb.shape == (3, 4, 5, 3)


def test_the_plots_show_the_usage_and_the_mean_entropy(inspection, tmp_path):
    figure = Figure()
    usage_axes, entropy_axes = figure.subplots(2)
    image = draw_expert_usage(usage_axes, inspection.expert_usage)
    np.testing.assert_allclose(image.get_array(), inspection.expert_usage)
    assert len(usage_axes.texts) == 12  # each share written in its cell
    draw_routing_entropy(entropy_axes, inspection.mean_entropy, inspection.entropy_percentiles())
    np.testing.assert_allclose([bar.get_height() for bar in entropy_axes.patches], inspection.mean_entropy)
    paths = write_plots(inspection, tmp_path, "m on img")
    names = ["expert_usage.png", "expert_usage_by_depth.png", "routing_entropy.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == names
    assert all(Image.open(path).format == "PNG" for path in paths.values())


def test_usage_over_depth_is_each_planes_share_and_is_drawn_per_layer(inspection):
    by_depth = inspection.usage_by_depth
    layers, experts, depth = inspection.layers, inspection.experts, inspection.grid.shape[0]
    assert by_depth.shape == (layers, depth, experts)
    np.testing.assert_allclose(by_depth.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(by_depth[1, 2], inspection.usage[1, :, 2].reshape(experts, -1).mean(-1), rtol=1e-6)
    panels = [axes for axes in depth_figure(inspection).axes if axes.images]
    assert len(panels) == layers
    np.testing.assert_allclose(panels[1].images[0].get_array(), by_depth[1])
