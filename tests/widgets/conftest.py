import time

import numpy as np
import pytest
from napari.utils.notifications import notification_manager

from napari_bright4b.data import samples
from napari_bright4b.models.checkpoint import load_checkpoint
from napari_bright4b.widgets.finetune_panel import FinetunePanel
from napari_bright4b.widgets.model_choice import ModelChoice
from tests.training.finetune.test_finetune import save_toy_base

PLUGIN = "napari-bright4b"
VOXEL = (1.0, 0.5, 0.5)  # the Fine-tune tab's blobs
SHAPE = (16, 32, 32)


@pytest.fixture
def viewer(make_napari_viewer, models_dir, monkeypatch):
    """A real viewer with small sample volumes and an empty user model folder."""
    monkeypatch.setattr(samples, "SAMPLE_SHAPE", (12, 64, 64))
    monkeypatch.setattr(samples, "LIGHTSHEET_SHAPE", (12, 48, 48))
    return make_napari_viewer()


@pytest.fixture
def dock(viewer):
    """The plugin's dock, opened as from the Plugins menu, beside the brightfield sample."""
    viewer.open_sample(PLUGIN, "brightfield-colony")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Bright-4B")
    return widget


@pytest.fixture
def notifications():
    """Messages notified from now on."""
    start = len(notification_manager.records)
    return lambda: [str(n.message) for n in notification_manager.records[start:]]


@pytest.fixture
def idle(qtbot, dock):
    """Wait until the dock's run or relabelling has finished."""
    return lambda: qtbot.waitUntil(lambda: not dock.runner.busy, timeout=60_000)


@pytest.fixture
def base(tmp_path):
    return save_toy_base(tmp_path, VOXEL)


@pytest.fixture
def panel(viewer, base, qtbot):
    """The tab beside an image of bright blobs, with a model choice that records selections."""
    rng = np.random.default_rng(0)
    truth = np.zeros(SHAPE, bool)
    truth[4:12, 6:14, 6:14] = truth[4:12, 18:28, 16:26] = True
    viewer.add_image((truth + rng.normal(0, 0.3, SHAPE)).astype(np.float32), name="blobs", scale=VOXEL)
    chosen = [str(base)]
    choice = ModelChoice(lambda: (chosen[-1], load_checkpoint(chosen[-1])[1]), chosen.append)
    widget = FinetunePanel(viewer, choice)
    widget.chosen, widget.truth = chosen, truth
    viewer.window.add_dock_widget(widget)
    return widget


def slowed_after_first_tile(job):
    """``job`` whose progress waits after each tile until the run is cancelled (30 s at most)."""

    def slow_job(*args, progress, cancel, **kwargs):
        def report(done, total):
            progress(done, total)
            deadline = time.monotonic() + 30
            while not cancel.cancelled and time.monotonic() < deadline:
                time.sleep(0.01)

        return job(*args, progress=report, cancel=cancel, **kwargs)

    return slow_job
