"""Take the screenshots in docs/napari.md, docs/inspect.md and docs/finetune.md from a real napari
viewer (run by hand, not in tests).

    OMP_NUM_THREADS=1 xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python docs/screenshots.py [PAGE ...]

PAGE: napari, inspect or finetune (no argument: every page).

Opens the sample data, runs the bundled models through the Bright-4B dock exactly as a
user would (buttons, worker, layers) and writes PNGs into docs/images/. (One OpenMP
thread: on a small machine shared with a CPU-heavy job, two threads spin-waiting for each
other made every tile many times slower, and the timings shown would say so.)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import napari
from PIL import Image as PILImage
from qtpy.QtWidgets import QApplication

OUT = Path(__file__).parent / "images"
PLUGIN = "napari-bright4b"
MODEL = "bright4b-nano-organelles"
INSIDE_SHAPE = (40, 384, 384)  # a wider field than the sample's: 12 x 12 tokens across at the model's voxel size


def wait(condition, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        QApplication.processEvents()
        time.sleep(0.02)
        if time.monotonic() > deadline:
            raise TimeoutError("the dock did not finish in time")
    for _ in range(20):  # let the canvas and the plot redraw
        QApplication.processEvents()
        time.sleep(0.02)


def save(viewer, name: str, palette: bool = False) -> None:
    """The whole window as an RGB PNG, or with a 256-colour ``palette`` (no dithering) where the
    image's texture would make it too large (a palette merges thin plot-line colours)."""
    wait(lambda: True)  # let the canvas catch up with the last change
    shot = PILImage.fromarray(viewer.screenshot(canvas_only=False, flash=False)[..., :3])
    if palette:
        shot = shot.quantize(256, dither=PILImage.Dither.NONE)
    shot.save(OUT / name, optimize=True)
    print(f"wrote {OUT / name} ({(OUT / name).stat().st_size // 1024} KB)")


def run(dock) -> None:
    dock.runner.run_button.click()
    wait(lambda: not dock.runner.busy)
    print(dock.runner.status.text())


def napari_page(viewer, dock) -> None:
    """docs/napari.md: the Model, Run and Slices tabs, instances, deblurring."""
    viewer.open_sample(PLUGIN, "brightfield-colony")
    for name in ("nuclei (truth)", "nucleoli (truth)", "mitochondria (truth)"):
        viewer.layers[name].visible = False
    dock.tabs.setCurrentWidget(dock.model)
    dock.model.time_button.click()
    wait(lambda: "about" in dock.model.estimate.text())
    save(viewer, "model-panel.png")

    dock.tabs.setCurrentWidget(dock.runner)
    run(dock)
    viewer.dims.set_point(0, float(viewer.layers["brightfield (simulated)"].scale[0] * 20))
    for layer in viewer.layers:  # nuclei as a probability, the two smaller structures as masks
        if layer.name.endswith(("nucleoli probability", "mitochondria probability", "nuclei mask")):
            layer.visible = False
    viewer.layers.selection.active = viewer.layers[f"brightfield (simulated) · {MODEL} · nuclei probability"]
    save(viewer, "run-panel.png")

    dock.tabs.setCurrentWidget(dock.slices)
    save(viewer, "slices-panel.png")

    dock.tabs.setCurrentWidget(dock.runner)
    dock.runner.instances.setChecked(True)
    dock.runner.split.setChecked(True)
    wait(lambda: not dock.runner.busy)
    for layer in viewer.layers:
        layer.visible = layer.name.endswith(("(simulated)", "nuclei instances"))
    viewer.layers.selection.active = viewer.layers[f"brightfield (simulated) · {MODEL} · nuclei instances"]
    save(viewer, "instances.png")

    viewer.layers.clear()
    viewer.open_sample(PLUGIN, "lightsheet-nuclei")
    viewer.layers["nuclei (truth)"].visible = False
    dock.model.models.setCurrentIndex(dock.model.models.findText("bright4b-nano-deblur (bundled)"))
    dock.runner.layer.setCurrentText("light-sheet nuclei (simulated)")
    run(dock)
    viewer.canvas.grid.enabled = True
    for layer in viewer.layers:
        layer.visible = "truth" not in layer.name
    viewer.reset_view()
    viewer.dims.set_point(0, 40.0)
    save(viewer, "deblur.png")
    viewer.canvas.grid.enabled = False


def show_only(viewer, *names: str) -> None:
    for layer in viewer.layers:
        layer.visible = layer.name in names
    viewer.layers.selection.active = viewer.layers[names[-1]]


def inspect_page(viewer, dock) -> None:
    """docs/inspect.md: the Inside tab on a simulated colony with its structures, its
    dominant-expert, PCA and gate layers."""
    from napari_bright4b.data import samples

    viewer.layers.clear()
    samples.SAMPLE_SHAPE = INSIDE_SHAPE
    viewer.open_sample(PLUGIN, "brightfield-colony")
    dock.model.models.setCurrentIndex(dock.model.models.findText(f"{MODEL} (bundled)"))
    dock.inside.layer.setCurrentText("brightfield (simulated)")
    dock.inside.structures.setCurrentText("structures (truth)")
    dock.tabs.setCurrentWidget(dock.inside)
    dock.inside.inspect_button.click()
    wait(lambda: not dock.inside.busy)
    print(dock.inside.status.text())
    image, prefix = "brightfield (simulated)", f"brightfield (simulated) · {MODEL} · "
    ndim = viewer.dims.ndim
    viewer.reset_view()
    viewer.dims.set_point(ndim - 3, float(viewer.layers[image].scale[0] * 20))
    viewer.dims.set_point(ndim - 4, 4.0)  # transformer layer 4
    show_only(viewer, image, prefix + "dominant expert")
    save(viewer, "inspect-panel.png", palette=True)
    viewer.canvas.grid.enabled = True  # which expert leads, beside the structures it leads on
    show_only(viewer, "structures (truth)", prefix + "dominant expert")
    viewer.reset_view()
    save(viewer, "inspect-structures.png", palette=True)

    viewer.canvas.grid.enabled = True
    show_only(viewer, image, prefix + "PCA layer 4")
    viewer.reset_view()
    save(viewer, "inspect-pca.png", palette=True)

    viewer.canvas.grid.enabled = False
    viewer.reset_view()
    viewer.dims.set_point(ndim - 4, 1.0)
    show_only(viewer, image, prefix + "compression gate")
    save(viewer, "inspect-gates.png", palette=True)


def finetune_page(viewer, dock) -> None:
    """docs/finetune.md: strokes painted as a person would, the instant classifier's prediction,
    then a one-minute deep fine-tune and its layers."""
    import numpy as np

    from napari_bright4b.training.finetune.strokes import paint_strokes

    viewer.layers.clear()
    viewer.open_sample(PLUGIN, "brightfield-colony")
    image = "brightfield (simulated)"
    truth = np.zeros(viewer.layers[image].data.shape, np.uint8)  # 1 nuclei, 2 nucleoli, 3 mitochondria
    for k, name in ((1, "nuclei (truth)"), (3, "mitochondria (truth)"), (2, "nucleoli (truth)")):
        truth[np.asarray(viewer.layers[name].data) > 0] = k
        viewer.layers.remove(name)
    dock.model.models.setCurrentIndex(dock.model.models.findText(f"{MODEL} (bundled)"))
    dock.tabs.setCurrentWidget(dock.finetune)
    dock.finetune.image.setCurrentText(image)
    dock.finetune.add_labels_layer()
    strokes = dock.finetune.labels_layer()
    strokes.data = paint_strokes(truth, np.random.default_rng(0))
    z = int(np.argmax((np.asarray(strokes.data) > 1).sum(axis=(1, 2))))  # the slice with most class strokes
    viewer.dims.set_point(0, float(viewer.layers[image].scale[0] * z))
    live = dock.finetune.live
    dock.finetune.run_button.click()  # the default, instant mode: fit now, then after every stroke
    wait(lambda: live.fits >= 1 and not live.busy)
    print(live.status.text())
    instant = f"{image} · instant · "
    viewer.layers[instant + "uncertainty"].visible = False
    viewer.layers.selection.active = strokes
    save(viewer, "finetune-instant.png", palette=True)
    live.toggle.setChecked(False)
    for output in ("prediction", "uncertainty"):
        viewer.layers.remove(instant + output)
    dock.finetune.mode.setCurrentIndex(dock.finetune.mode.findData("full"))  # a deep fine-tune
    dock.finetune.run_button.click()
    wait(lambda: not dock.finetune.busy)
    print(dock.finetune.status.text())
    prefix = f"{image} · {dock.finetune.result.card.name} · "
    viewer.layers[prefix + "uncertainty"].visible = False
    viewer.layers.selection.active = strokes
    save(viewer, "finetune-panel.png", palette=True)
    show_only(viewer, image, prefix + "uncertainty")
    viewer.layers[prefix + "uncertainty"].opacity = 0.7
    save(viewer, "finetune-uncertainty.png", palette=True)
    dock.finetune.result.path.unlink()  # the fine-tuned model went to the user's model folder


def main(pages: list[str]) -> None:
    OUT.mkdir(exist_ok=True)
    viewer = napari.Viewer(title="napari-bright4b")
    viewer.window.resize(1500, 950)
    _, dock = viewer.window.add_plugin_dock_widget(PLUGIN, "Bright-4B")
    dock.model.devices.setCurrentText("cpu")
    for page in pages or ["napari", "inspect", "finetune"]:
        {"napari": napari_page, "inspect": inspect_page, "finetune": finetune_page}[page](viewer, dock)
    viewer.close()


if __name__ == "__main__":
    main(sys.argv[1:])
