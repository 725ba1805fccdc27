"""The Slices and Model tabs, and the light-sheet tasks, in a real viewer."""

import numpy as np
from napari.layers import Labels
from qtpy.QtCore import QPoint, Qt
from qtpy.QtWidgets import QApplication

from napari_bright4b.models.card import ModelCard
from napari_bright4b.models.checkpoint import build_model, save_checkpoint
from napari_bright4b.models.config import HeadConfig
from napari_bright4b.models.registry import resolve
from napari_bright4b.widgets.model_panel import ModelPanel

from .conftest import PLUGIN


def test_the_slice_plot_follows_the_z_slider_jumps_on_click_and_exports(dock, viewer, idle, qtbot, tmp_path):
    dock.runner.run_button.click()
    idle()
    slices = dock.slices
    assert slices.stats.names == ("nuclei", "nucleoli", "mitochondria")
    assert slices.table.rowCount() == 12 and slices.table.columnCount() == 2 + 2 * 3

    viewer.dims.set_point(0, slices.stats.z_um[7])
    assert slices.current_slice() == 7
    assert all(marker.get_xdata()[0] == 7 for marker in slices.markers)

    slices.canvas.draw()
    x, y = slices.fraction_axes.transData.transform((3, 0.0))  # display pixels, from the bottom
    ratio, height = slices.canvas.device_pixel_ratio, slices.figure.bbox.height
    qtbot.mouseClick(slices.canvas, Qt.LeftButton, pos=QPoint(int(x / ratio), int((height - y) / ratio)))
    assert slices.current_slice() == 3
    assert np.isclose(viewer.dims.point[0], slices.stats.z_um[3])

    slices.copy_button.click()
    copied = QApplication.clipboard().text().splitlines()
    assert copied[0].split("\t")[:3] == ["z", "z (um)", "nuclei fraction"] and len(copied) == 13
    slices.save_csv(str(tmp_path / "slices.csv"))
    assert (tmp_path / "slices.csv").read_text() == slices.stats.to_csv()


def test_the_model_tab_shows_the_card_devices_fallback_and_estimate(dock, notifications, qtbot, tmp_path, models_dir):
    panel = dock.model
    html = panel.card_view.toHtml()
    voxel = "{:g} x {:g} x {:g} um".format(*panel.card.voxel_size)
    assert all(text in html for text in ("nuclei, nucleoli, mitochondria", voxel, "dice"))
    options = [panel.devices.itemText(i) for i in range(panel.devices.count())]
    assert options[0] == "auto" and options[-2:] == ["mps", "cpu"] and any(o.startswith("cuda") for o in options)
    panel.devices.setCurrentText("mps")
    assert "MPS (Apple GPU) is not available here; running on the CPU" in panel.device_note.text()
    panel.devices.setCurrentText("cpu")

    assert panel.estimate.text().startswith("brightfield (simulated): ") and " tiles · RAM " in panel.estimate.text()
    assert "measure one tile" in panel.estimate.text()
    panel.time_button.click()
    qtbot.waitUntil(lambda: "about" in panel.estimate.text(), timeout=30_000)

    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    count = panel.models.count()
    panel.add_model_file(bad)
    assert panel.models.count() == count and "bad.safetensors" in notifications()[-1]

    (models_dir / "broken.safetensors").write_bytes(b"not a checkpoint")
    listed = ModelPanel()  # a new dock lists the user's unreadable file, greyed out, with the reason
    index = listed.models.findText("broken (user)")
    assert not listed.models.model().item(index).isEnabled()
    assert "broken.safetensors" in listed.models.itemData(index, Qt.ToolTipRole)
    assert listed.card.name == "bright4b-nano-organelles"  # the segmentation model is chosen first
    listed.deleteLater()


def save_stain_classifier(folder):
    """A random-weight stain classifier in the user model folder, on the deblur model's backbone."""
    deblur = resolve("bright4b-nano-deblur").card
    head = HeadConfig(task="classify", class_names=("nuclear", "vessel", "plaque"))
    card = ModelCard(name="stains", config=deblur.config, head=head, voxel_size=deblur.voxel_size, tile=(8, 64, 64))
    save_checkpoint(build_model(card).eval(), card, folder / "stains.safetensors")


def test_deblurring_and_stain_classification_of_the_light_sheet_sample(viewer, models_dir, qtbot):
    save_stain_classifier(models_dir)
    viewer.open_sample(PLUGIN, "lightsheet-nuclei")
    _, dock = viewer.window.add_plugin_dock_widget(PLUGIN, "Bright-4B")
    image = viewer.layers["light-sheet nuclei (simulated)"]
    dock.runner.layer.setCurrentText(image.name)

    dock.model.models.setCurrentIndex(dock.model.models.findText("bright4b-nano-deblur (bundled)"))
    assert [dock.runner.task.itemText(i) for i in range(dock.runner.task.count())] == ["deblur"]
    assert dock.runner.view_count() == resolve("bright4b-nano-deblur").card.views == 8  # the card's choice
    dock.runner.run_button.click()
    qtbot.waitUntil(lambda: not dock.runner.busy, timeout=60_000)
    sharp = viewer.layers["light-sheet nuclei (simulated) · bright4b-nano-deblur · deblurred"]
    assert sharp.data.shape == image.data.shape and sharp.colormap.name == "magma"
    np.testing.assert_allclose(sharp.contrast_limits, image.contrast_limits)

    dock.model.models.setCurrentIndex(dock.model.models.findText("stains (user)"))
    assert dock.runner.view_count() == 1
    dock.runner.run_button.click()
    qtbot.waitUntil(lambda: not dock.runner.busy, timeout=60_000)
    class_map = viewer.layers["light-sheet nuclei (simulated) · stains · class map"]
    assert isinstance(class_map, Labels) and list(class_map.features["class"]) == ["nuclear", "vessel", "plaque"]
    table = dock.runner.probabilities
    assert table.isVisibleTo(dock.runner) and table.rowCount() == 3
    assert np.isclose(sum(float(table.item(r, 1).text()) for r in range(3)), 1.0, atol=0.01)
    assert dock.slices.stats.names == ("nuclear", "vessel", "plaque")


def test_the_plots_follow_the_viewers_theme(dock, viewer):
    from matplotlib.colors import to_hex
    from napari.utils.theme import get_theme

    for theme in ("light", "dark"):
        viewer.theme = theme
        background = get_theme(theme).background.as_hex()
        assert to_hex(dock.slices.figure.get_facecolor()) == background
        assert to_hex(dock.finetune.plot.figure.get_facecolor()) == background
        assert to_hex(dock.inside.figure.get_facecolor()) == background


def test_a_model_that_refines_richardson_lucy_takes_its_psf_from_the_run_tab(viewer, models_dir, qtbot):
    import dataclasses

    from napari_bright4b.api import deblur

    blind = resolve("bright4b-nano-deblur").card
    card = dataclasses.replace(blind, name="refine", views=1, deconvolution={"iterations": 3, "tv": 0.0})
    save_checkpoint(build_model(card).eval(), card, models_dir / "refine.safetensors")
    viewer.open_sample(PLUGIN, "lightsheet-nuclei")
    _, dock = viewer.window.add_plugin_dock_widget(PLUGIN, "Bright-4B")
    image = viewer.layers["light-sheet nuclei (simulated)"]
    dock.runner.layer.setCurrentText(image.name)
    dock.model.models.setCurrentIndex(dock.model.models.findText("bright4b-nano-deblur (bundled)"))
    assert not dock.runner.psf_sigma.isEnabled() and "psf_sigma" not in dock.runner.run_options()

    dock.model.models.setCurrentIndex(dock.model.models.findText("refine (user)"))
    assert dock.runner.psf_sigma.isEnabled()
    for box, sigma in zip(dock.runner.psf_sigma.boxes, (4.0, 1.5, 1.5)):
        box.setValue(sigma)
    assert dock.runner.settings() == ("deblur", {**dock.runner.settings()[1], "psf_sigma": (4.0, 1.5, 1.5)})
    dock.runner.run_button.click()
    qtbot.waitUntil(lambda: not dock.runner.busy, timeout=60_000)
    sharp = viewer.layers["light-sheet nuclei (simulated) · refine · deblurred"]
    expected = deblur(image.data, models_dir / "refine.safetensors", voxel_size=image.scale, psf_sigma=(4.0, 1.5, 1.5))
    np.testing.assert_allclose(sharp.data, expected.maps[0], rtol=1e-5, atol=1e-3)
