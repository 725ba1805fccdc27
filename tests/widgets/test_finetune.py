"""The Fine-tune tab in a real viewer: paint, fine-tune with a live preview, the prediction and
uncertainty layers, the new model chosen, Revert, Cancel and bad input."""

import numpy as np
from napari.layers import Image, Labels

from napari_bright4b.models.checkpoint import load_checkpoint
from napari_bright4b.widgets.model_choice import model_panel_choice
from tests.widgets.conftest import SHAPE, VOXEL


def deep(panel, mode="full"):
    panel.form.mode.setCurrentIndex(panel.form.mode.findData(mode))


def paint(panel, truth, slices=(5, 8, 11)):
    panel.form.add_labels_layer()
    layer = panel.form.labels_layer()
    strokes = np.zeros(SHAPE, np.uint8)
    for z in slices:
        strokes[z][truth[z]] = 2
        strokes[z, :2, :] = strokes[z, -2:, :] = 1
    layer.data = strokes
    return layer


def results(viewer):
    return {layer.name.rsplit(" · ", 1)[-1]: layer for layer in viewer.layers if " · " in layer.name}


def test_fine_tune_in_a_real_viewer(panel, viewer, qtbot, models_dir):
    layer = paint(panel, panel.truth)
    assert layer.name == "blobs strokes" and isinstance(layer, Labels) and np.allclose(layer.scale, VOXEL)
    table = panel.classes
    qtbot.waitUntil(lambda: table.rowCount() == 2)  # counted in a worker after painting pauses
    assert [table.item(r, 0).text() for r in range(table.rowCount())] == ["1", "2"]
    assert table.item(0, 1).text() == "background" and table.item(1, 1).text() == "blob"  # the base's class
    table.item(1, 1).setText("cell")
    assert panel.class_names() == {2: "cell"}

    assert panel.form.mode.currentData() == "instant"  # the default; this test is of the deep fine-tune
    deep(panel)
    panel.form.steps.setValue(6)
    panel.form.adapt.setValue(0.5)  # half a second on the image, unlabeled, first
    panel.preview_every_s = 0.0  # a preview after every step
    panel.run_button.click()
    qtbot.waitUntil(lambda: not panel.busy, timeout=120_000)

    result = panel.result
    assert result is not None and result.steps == 6 and result.path.parent == models_dir
    assert result.card.head.class_names == ("background", "cell") and panel.chosen[-1] == str(result.path)
    assert result.card.provenance["image_adaptation"]["steps"] >= 1
    assert any(report.preview is not None for report in panel.plot.reports)
    layers = results(viewer)
    assert set(layers) == {"prediction", "uncertainty"}
    prediction, uncertainty = layers["prediction"], layers["uncertainty"]
    assert isinstance(prediction, Labels) and isinstance(uncertainty, Image)
    assert prediction.data.shape == SHAPE and uncertainty.data.shape == SHAPE
    assert np.allclose(prediction.scale, VOXEL) and np.allclose(uncertainty.scale, VOXEL)
    assert set(np.unique(prediction.data)) <= {0, 2} and 0 <= uncertainty.data.min() <= uncertainty.data.max() <= 1
    assert prediction.name == f"blobs · {result.card.name} · prediction"
    assert "Saved" in panel.status.text()

    panel.revert_button.click()
    assert panel.chosen[-1] == panel.chosen[0] and result.path.is_file()
    assert panel.form.labels.findText(prediction.name) < 0  # our own results are not offered for painting


def test_cancel_keeps_the_best_model_so_far(panel, viewer, qtbot, models_dir):
    paint(panel, panel.truth)
    deep(panel)
    panel.form.steps.setValue(0)  # no step limit
    panel.form.budget.setValue(600)
    panel.run_button.click()
    qtbot.waitUntil(lambda: len(panel.plot.reports) >= 12, timeout=120_000)
    panel.cancel_button.click()
    qtbot.waitUntil(lambda: not panel.busy, timeout=120_000)
    result = panel.result
    assert result.cancelled and 12 <= result.steps < 1000 and result.path.is_file()
    assert load_checkpoint(result.path)[1].provenance["best_step"] == result.best_step
    assert set(results(viewer)) == {"prediction", "uncertainty"}


def test_bad_input_is_a_notification(panel, viewer, qtbot, notifications, models_dir):
    panel.run_button.click()  # instant mode, no Labels layer yet
    assert any("no Labels layer" in m for m in notifications()) and not panel.live.toggle.isChecked()
    deep(panel)
    panel.run_button.click()
    assert sum("no Labels layer" in m for m in notifications()) == 2
    paint(panel, panel.truth).data = np.where(panel.truth, 2, 0).astype(np.uint8)  # one class only
    panel.run_button.click()
    qtbot.waitUntil(lambda: not panel.busy, timeout=60_000)
    assert any("only one class is painted" in m for m in notifications())
    assert panel.result is None and not results(viewer) and not list(models_dir.iterdir())


def test_the_dock_has_a_fine_tune_tab_that_shares_the_model_choice(dock, base):
    assert [dock.tabs.tabText(i) for i in range(dock.tabs.count())][-1] == "Fine-tune"
    dock.tabs.setCurrentWidget(dock.finetune)
    assert dock.finetune.form.base_note.text() == "bright4b-nano-organelles"
    bundled = dock.model.spec
    choice = model_panel_choice(dock.model)
    choice.select(str(base))  # a new model: added to the Model tab's list and chosen
    assert dock.model.card.name == "toy-base" and choice.current()[0] == str(base)
    choice.select(bundled)  # Revert: the base chosen again
    assert dock.model.card.name == "bright4b-nano-organelles"
