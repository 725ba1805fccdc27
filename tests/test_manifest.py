from pathlib import Path

from npe2 import PluginManifest

import napari_bright4b


def test_manifest_is_valid_and_ships_inside_the_package():
    path = Path(napari_bright4b.__file__).parent / "napari.yaml"
    assert PluginManifest.from_file(path).name == "napari-bright4b"


def test_manifest_is_found_through_the_entry_point():
    manifest = PluginManifest.from_distribution("napari-bright4b")
    assert manifest.display_name == "Bright-4B"
