"""The Inside tab in a real viewer: maps as layers lined up with the image, plots, cancel, bad layers."""

import threading

import numpy as np
from napari.layers import Image, Labels

from napari_bright4b.analysis.token_grid import TokenGrid
from napari_bright4b.widgets import inspect_panel
from tests.widgets.conftest import slowed_after_first_tile

INPUT = "brightfield (simulated)"
MODEL = "bright4b-nano-organelles"
MAPS = ("routing entropy", "dominant expert", "compression gate", "selection gate", "window gate", "expert usage")


def inside_layers(viewer):
    return {layer.name: layer for layer in viewer.layers if layer.metadata.get("bright4b", {}).get("run") == "inspect"}


def test_inspecting_gives_maps_that_cover_their_patches_and_plots(dock, viewer, qtbot):
    image = viewer.layers[INPUT]
    image.translate = (1.0, 2.0, 3.0)
    before = image.data.copy()
    dock.runner.run_button.click()  # segmentation layers first: inspecting must leave them alone
    qtbot.waitUntil(lambda: not dock.runner.busy, timeout=60_000)
    segmentation = [layer for layer in viewer.layers if layer.name.endswith("probability")]
    panel = dock.inside
    assert dock.tabs.tabText(dock.tabs.indexOf(panel)) == "Inside"
    assert panel.chosen_layers() == list(dock.model.card.config.taps)
    panel.inspect_button.click()
    qtbot.waitUntil(lambda: not panel.busy, timeout=60_000)

    layers = inside_layers(viewer)
    pca = [f"PCA layer {n}" for n in dock.model.card.config.taps]
    assert set(layers) == {f"{INPUT} · {MODEL} · {name}" for name in (*MAPS, *pca)}
    assert all(layer in viewer.layers for layer in segmentation)
    entropy = layers[f"{INPUT} · {MODEL} · routing entropy"]
    dominant = layers[f"{INPUT} · {MODEL} · dominant expert"]
    assert isinstance(entropy, Image) and isinstance(dominant, Labels) and entropy.visible and not dominant.visible
    assert layers[f"{INPUT} · {MODEL} · PCA layer 4"].rgb
    assert "transformer layer" in viewer.dims.axis_labels

    inspection = panel.current.inspection
    card = dock.model.card
    grid = TokenGrid.for_volume(image.data.shape, image.scale, card)
    assert inspection.grid == grid and entropy.data.shape == (card.config.depth, *grid.shape)
    step = np.asarray(grid.input_shape) / np.asarray(grid.model_shape)  # input voxels per model voxel
    for index in [(0, 0, 0), tuple(s - 1 for s in grid.shape)]:
        low = np.asarray(index) * grid.patch * step - 0.5  # the patch's edges in input voxel coordinates
        high = (np.asarray(index) + 1) * grid.patch * step - 0.5
        drawn = [entropy.data_to_world((2, *(np.asarray(index) + d))) for d in (-0.5, 0.5)]
        np.testing.assert_allclose(drawn[0][1:], image.data_to_world(low), atol=1e-9)
        np.testing.assert_allclose(drawn[1][1:], image.data_to_world(high), atol=1e-9)
        assert drawn[0][0] == 3.0  # world coordinate of the layer axis = 1-based transformer layer
    np.testing.assert_allclose(panel.usage_axes.images[0].get_array(), inspection.expert_usage)
    heights = [bar.get_height() for bar in panel.entropy_axes.patches]
    np.testing.assert_allclose(heights, inspection.mean_entropy)
    assert panel.status.text().startswith(f"{MODEL} on {INPUT}: ") and np.array_equal(image.data, before)

    panel.inspect_button.click()  # again: the same layers, updated in place
    qtbot.waitUntil(lambda: not panel.busy, timeout=60_000)
    assert all(inside_layers(viewer)[name] is layer for name, layer in layers.items())


def test_cancel_mid_inspection_leaves_no_layers(dock, viewer, qtbot, monkeypatch):
    monkeypatch.setattr(inspect_panel, "inspect_job", slowed_after_first_tile(inspect_panel.inspect_job))
    for box, step in zip(dock.runner.tile, dock.model.card.config.spatial_multiple):
        box.setValue(step)  # the Run tab's smallest tile: several tiles over the sample
    layers = list(viewer.layers)
    panel = dock.inside
    panel.inspect_button.click()
    qtbot.waitUntil(lambda: panel.status.text().startswith("Running: tile 1 of "), timeout=60_000)
    panel.cancel_button.click()
    qtbot.waitUntil(lambda: not panel.busy, timeout=60_000)
    qtbot.waitUntil(lambda: all(t.name != "bright4b-run" for t in threading.enumerate()))
    assert list(viewer.layers) == layers and panel.current is None
    assert panel.status.text().startswith("Cancelled") and panel.inspect_button.isEnabled()


def test_an_unusable_layer_gives_a_notification(dock, viewer, notifications, qtbot):
    panel = dock.inside
    panel.layer.setCurrentText("nuclei (truth)")
    panel.inspect_button.click()
    assert not panel.busy and "is a labels layer; pick an Image layer" in notifications()[-1]
    viewer.add_image(np.zeros((1, 64, 64), np.float32) + np.arange(64), name="one slice", scale=(0.29, 0.108, 0.108))
    panel.layer.setCurrentText("one slice")
    panel.inspect_button.click()  # refused by the analysis, in the worker
    qtbot.waitUntil(lambda: not panel.busy, timeout=60_000)
    assert "the image is 2D" in notifications()[-1] and panel.status.text().startswith("Failed: the image is 2D")
    assert not inside_layers(viewer)


def test_a_structures_layer_adds_expert_usage_per_structure(dock, viewer, qtbot, notifications):
    panel = dock.inside
    assert panel.structures.currentText() == "structures (truth)"  # the sample's, chosen by its name
    panel.inspect_button.click()
    qtbot.waitUntil(lambda: not panel.busy, timeout=60_000)
    report = panel.current.structures
    names = ("outside", "cytoplasm", "nuclei", "nucleoli", "mitochondria")
    assert report is not None and len(report["structures"]) >= 2 and set(report["structures"]) <= set(names)
    assert all(abs(sum(u) - 1) < 1e-3 for layer in report["layers"] for u in layer["usage"].values())
    drawn = panel.structure_axes.images[0].get_array()
    assert drawn.shape == (len(report["structures"]), panel.current.inspection.experts)
    assert "bits" in panel.structure_axes.get_title()
    viewer.add_labels(np.zeros((3, 8, 8), np.uint8), name="structures elsewhere")
    panel.structures.setCurrentText("structures elsewhere")
    panel.inspect_button.click()
    assert "not on the image's grid" in notifications()[-1]
    qtbot.waitUntil(lambda: not panel.busy, timeout=60_000)
    assert panel.current.structures is None and not panel.structure_axes.images  # inspected without it
