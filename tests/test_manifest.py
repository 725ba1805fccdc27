from pathlib import Path

from npe2 import PluginManifest

import napari_bright4b


def test_manifest_is_valid_and_ships_inside_the_package():
    path = Path(napari_bright4b.__file__).parent / "napari.yaml"
    assert PluginManifest.from_file(path).name == "napari-bright4b"


def test_manifest_is_found_through_the_entry_point():
    manifest = PluginManifest.from_distribution("napari-bright4b")
    assert manifest.display_name == "Bright-4B"


def test_the_dock_widget_is_contributed_for_the_plugins_menu():
    from npe2 import PluginManager

    manager = PluginManager.instance()
    manager.discover()
    (widget,) = [w for w in manager.iter_widgets() if w.command.startswith("napari-bright4b.")]
    assert widget.display_name == "Bright-4B"
    assert manager.get_command(widget.command).python_name == "napari_bright4b.widgets:Bright4BWidget"


def test_sample_data_is_contributed_and_gives_aligned_layers(monkeypatch):
    from napari_bright4b.data import samples

    manifest = PluginManifest.from_distribution("napari-bright4b")
    assert [s.key for s in manifest.contributions.sample_data] == ["brightfield-colony", "lightsheet-nuclei"]
    monkeypatch.setattr(samples, "SAMPLE_SHAPE", (12, 64, 64))
    layers = samples.brightfield_colony()
    assert [kind for *_, kind in layers] == ["image", "labels", "labels", "labels", "labels"]
    shapes = {data.shape for data, *_ in layers}
    assert shapes == {(12, 64, 64)}
    assert all(meta["scale"] == [0.29, 0.108, 0.108] for _, meta, _ in layers)


def test_lightsheet_sample_gives_aligned_layers(monkeypatch):
    from napari_bright4b.data import samples

    monkeypatch.setattr(samples, "LIGHTSHEET_SHAPE", (12, 48, 48))
    layers = samples.lightsheet_nuclei()
    assert [kind for *_, kind in layers] == ["image", "image", "labels"]
    assert {data.shape for data, *_ in layers} == {(12, 48, 48)}
    assert all(meta["scale"] == [2.0, 1.0, 1.0] for _, meta, _ in layers)
    assert layers[2][0].any()
