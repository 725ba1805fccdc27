import pytest
from napari.utils.notifications import notification_manager

from napari_bright4b.data import samples

PLUGIN = "napari-bright4b"


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
