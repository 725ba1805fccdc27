"""The Run tab in a real viewer: segmentation with the bundled model on the sample, results as
aligned layers updated in place, re-thresholding without the model, cancel, bad layers."""

import threading

import numpy as np
from napari.layers import Image, Labels
from napari.utils import progress

from napari_bright4b.widgets import run_panel
from tests.widgets.conftest import slowed_after_first_tile

INPUT = "brightfield (simulated)"
MODEL = "bright4b-nano-organelles"
CLASSES = ("nuclei", "nucleoli", "mitochondria")


def results(viewer):
    return {layer.name: layer for layer in viewer.layers if " · " in layer.name}


def test_segmentation_gives_aligned_named_layers_and_leaves_the_input_alone(dock, viewer, idle):
    image = viewer.layers[INPUT]
    image.translate = (1.0, 2.0, 3.0)
    before = image.data.copy()
    assert dock.model.card.name == MODEL and dock.runner.layer.currentText() == INPUT
    dock.runner.run_button.click()
    idle()

    layers = results(viewer)
    prefix = f"{INPUT} · {MODEL} · "
    assert set(layers) == {prefix + f"{c} {what}" for c in CLASSES for what in ("probability", "mask")}
    for layer in layers.values():
        assert layer.data.shape == image.data.shape
        np.testing.assert_allclose(layer.scale, image.scale)
        np.testing.assert_allclose(layer.translate, (1.0, 2.0, 3.0))
    probabilities = [layers[prefix + f"{c} probability"] for c in CLASSES]
    assert all(isinstance(p, Image) and p.blending == "additive" for p in probabilities)
    assert len({p.colormap.name for p in probabilities}) == 3
    assert all(isinstance(layers[prefix + f"{c} mask"], Labels) for c in CLASSES)
    assert np.array_equal(image.data, before) and np.allclose(image.scale, (0.29, 0.108, 0.108))
    cuts = ", ".join(f"{name} {cut:.2f}" for name, cut in dock.model.card.thresholds.items())
    assert dock.runner.threshold_note.text() == f"Auto: {cuts}"  # the card's cuts
    assert dock.slices.stats.fraction.shape == (3, 12)

    dock.runner.run_button.click()  # a re-run updates the same layers
    idle()
    again = results(viewer)
    assert set(again) == set(layers) and all(again[name] is layers[name] for name in layers)


def test_the_threshold_slider_and_label_options_relabel_without_running_the_model(dock, viewer, idle, monkeypatch):
    dock.runner.run_button.click()
    idle()
    mask = viewer.layers[f"{INPUT} · {MODEL} · nuclei mask"]
    probability = viewer.layers[f"{INPUT} · {MODEL} · nuclei probability"]
    kept = probability.data
    monkeypatch.setattr(run_panel, "run_job", None)  # the model must not run again

    # the small sample's 12 slices hold no nucleus, so start from a cut anything passes
    dock.runner.threshold.setValue(1)
    idle()
    assert not dock.runner.automatic.isChecked()
    found = int(mask.data.sum())
    assert found == np.count_nonzero(kept > 0.01) > 0
    dock.runner.threshold.setValue(99)
    idle()
    assert viewer.layers[f"{INPUT} · {MODEL} · nuclei mask"] is mask
    assert int(mask.data.sum()) < found and np.shares_memory(probability.data, kept)
    assert np.array_equal(mask.data, (kept > 0.99).astype(np.uint8))

    dock.runner.threshold.setValue(1)
    dock.runner.instances.setChecked(True)  # queued behind the first relabelling
    idle()
    names = set(results(viewer))
    assert f"{INPUT} · {MODEL} · nuclei instances" in names and f"{INPUT} · {MODEL} · nuclei mask" not in names
    instances = viewer.layers[f"{INPUT} · {MODEL} · nuclei instances"].data
    assert instances.dtype == np.uint32 and np.array_equal(instances > 0, kept > 0.01)


def test_cancel_mid_run_leaves_no_layers(dock, viewer, idle, qtbot, monkeypatch):
    monkeypatch.setattr(run_panel, "run_job", slowed_after_first_tile(run_panel.run_job))
    for box, step in zip(dock.runner.tile, dock.model.card.config.spatial_multiple):
        box.setValue(step)  # the smallest tile: several tiles over the sample
    layers = list(viewer.layers)
    dock.runner.run_button.click()
    qtbot.waitUntil(lambda: dock.runner.status.text().startswith("Running: tile 1 of "), timeout=60_000)
    assert dock.runner.cancel_button.isEnabled()
    (bar,) = [p for p in progress._all_instances if p.desc.startswith("Bright-4B: segment")]  # the activity dock's
    assert bar.n == 1 and bar.total > 1
    dock.runner.cancel_button.click()
    idle()
    qtbot.waitUntil(lambda: all(t.name != "bright4b-run" for t in threading.enumerate()))  # the engine stopped
    assert list(viewer.layers) == layers
    assert dock.runner.status.text().startswith("Cancelled") and dock.slices.stats is None
    assert dock.runner.run_button.isEnabled() and not dock.runner.cancel_button.isEnabled()


def test_unusable_layers_give_a_notification_not_an_exception(dock, viewer, notifications, idle):
    viewer.add_image(np.zeros((32, 32, 3), np.uint8), name="rgb", rgb=True)
    viewer.add_image(np.zeros((2, 4, 32, 32), np.float32), name="4d")
    expected = {
        "nuclei (truth)": "is a labels layer; pick an Image layer",
        "rgb": "is an RGB image",
        "4d": "has 4 dimensions",
    }
    for name, message in expected.items():
        dock.runner.layer.setCurrentText(name)
        assert dock.runner.layer.currentText() == name
        dock.runner.run_button.click()
        assert not dock.runner.busy
        assert message in notifications()[-1]
        assert message in dock.model.estimate.text()  # the estimate says why, too
    viewer.add_image(np.zeros((12, 64, 64), np.float32), name="empty", scale=(0.29, 0.108, 0.108))
    dock.runner.layer.setCurrentText("empty")
    dock.runner.run_button.click()  # refused by the engine, in the worker
    idle()
    assert "image is constant" in notifications()[-1] and dock.runner.status.text().startswith("Failed: image is")
    assert not results(viewer)
