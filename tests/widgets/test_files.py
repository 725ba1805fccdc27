"""The reader and writer contributions in a real viewer: the voxel size survives open and save."""

import numpy as np
import pytest
import tifffile

from napari_bright4b.data.io import write_image

PLUGIN = "napari-bright4b"


def image(shape=(6, 20, 30)):
    return np.random.default_rng(0).integers(0, 4000, size=shape, dtype=np.uint16)


def test_an_imagej_tiff_opens_with_its_voxel_size_as_the_scale(viewer, tmp_path):
    path = tmp_path / "cells.tif"
    tifffile.imwrite(  # as Fiji saves a calibrated stack
        path,
        image(),
        imagej=True,
        resolution=(1 / 0.108, 1 / 0.108),
        metadata={"axes": "ZYX", "spacing": 0.29, "unit": "um"},
    )
    (layer,) = viewer.open(path, plugin=PLUGIN)
    assert layer.name == "cells" and np.allclose(layer.scale, (0.29, 0.108, 0.108))
    assert np.array_equal(np.asarray(layer.data), image())


def test_an_ome_tiff_in_nanometres_and_a_two_channel_stack_open_in_micrometres_one_layer_per_channel(viewer, tmp_path):
    path = tmp_path / "two.ome.tif"
    data = np.stack([image(), image()[::-1]], axis=1)  # ZCYX
    metadata = {"axes": "ZCYX", "PhysicalSizeZ": 500, "PhysicalSizeY": 216, "PhysicalSizeX": 216}
    metadata.update({f"PhysicalSize{a}Unit": "nm" for a in "ZYX"})
    tifffile.imwrite(path, data, ome=True, metadata=metadata)
    layers = viewer.open(path, plugin=PLUGIN)
    assert [layer.name for layer in layers] == ["two [channel 0]", "two [channel 1]"]
    assert all(np.allclose(layer.scale, (0.5, 0.216, 0.216)) for layer in layers)
    assert np.array_equal(np.asarray(layers[1].data), image()[::-1])


def test_an_ome_zarr_opens_lazily_with_its_scale_and_translate(viewer, tmp_path):
    path = write_image(tmp_path / "big.zarr", image(), (0.5, 0.2, 0.2), origin=(2.0, 10.0, 20.0))
    (layer,) = viewer.open(path, plugin=PLUGIN)
    assert np.allclose(layer.scale, (0.5, 0.2, 0.2)) and np.allclose(layer.translate, (2.0, 10.0, 20.0))
    assert type(layer.data).__module__.startswith("dask")  # read tile by tile, not whole


def test_a_saved_labels_layer_reads_back_as_labels_with_its_scale_and_translate(viewer, tmp_path):
    labels = np.zeros((6, 20, 30), np.uint32)
    labels[2:4, 5:10, 5:10] = 70000  # beyond uint16: kept
    layer = viewer.add_labels(labels, scale=(0.29, 0.108, 0.108), translate=(1.0, 2.0, 3.0), name="nuclei")
    for suffix in (".tif", ".zarr"):
        path = tmp_path / f"nuclei{suffix}"
        (written,) = layer.save(str(path), plugin=PLUGIN)
        (back,) = viewer.open(written, plugin=PLUGIN)
        assert back._type_string == "labels" and np.allclose(back.scale, (0.29, 0.108, 0.108))
        assert np.array_equal(np.asarray(back.data), labels)
        if suffix == ".zarr":  # TIFF has no standard place for an origin
            assert np.allclose(back.translate, (1.0, 2.0, 3.0))


def test_a_saved_image_layer_keeps_its_scale_and_a_failed_save_keeps_the_old_file(viewer, tmp_path, monkeypatch):
    layer = viewer.add_image(image().astype(np.float32), scale=(0.5, 0.25, 0.25), name="img")
    folder = tmp_path / "saved"
    folder.mkdir()
    path = folder / "img.tif"
    layer.save(str(path), plugin=PLUGIN)
    before = path.read_bytes()

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tifffile, "imwrite", full_disk)
    layer.data = layer.data * 2
    with pytest.raises(Exception) as caught:  # napari may wrap the writer's error
        layer.save(str(path), plugin=PLUGIN)
    assert "No space left" in repr(caught.value) + repr(caught.value.__cause__)
    assert path.read_bytes() == before and [p.name for p in folder.iterdir()] == ["img.tif"]
    (back,) = viewer.open(path, plugin=PLUGIN)
    assert np.allclose(back.scale, (0.5, 0.25, 0.25))


def test_a_nifti_opens_in_micrometres(viewer, tmp_path):
    from tests.data.test_nifti import save_nifti, volume_zyx

    path = save_nifti(tmp_path / "sheet.nii.gz", volume_zyx().transpose(2, 1, 0), (0.5, 0.25, 2.0))
    (layer,) = viewer.open(path, plugin=PLUGIN)
    assert layer.name == "sheet" and np.allclose(layer.scale, (2.0, 0.25, 0.5))


class CountedReads:
    """An on-disk-like array that records the size of every read."""

    def __init__(self, data):
        self.data, self.shape, self.dtype, self.ndim, self.reads = data, data.shape, data.dtype, data.ndim, []

    def __getitem__(self, key):
        out = self.data[key]
        self.reads.append(out.size)
        return out


def test_lazy_and_multiscale_layers_run_tile_by_tile_without_being_read_whole(dock, viewer, qtbot, monkeypatch):
    import dask.array as da

    from napari_bright4b.widgets import run_panel

    given = []

    def spy(spec, volume, *args, **kwargs):
        given.append(volume)
        return real(spec, volume, *args, **kwargs)

    real = run_panel.run_job
    monkeypatch.setattr(run_panel, "run_job", spy)
    rng = np.random.default_rng(0)
    source = CountedReads(rng.normal(1000, 50, (16, 96, 96)).astype(np.float32))
    lazy = da.from_array(source, chunks=(8, 48, 48))
    layer = viewer.add_image([lazy, lazy[:, ::2, ::2]], multiscale=True, scale=(0.29, 0.216, 0.216), name="big")
    dock.runner.layer.setCurrentText(layer.name)
    source.reads.clear()
    dock.runner.run_button.click()
    qtbot.waitUntil(lambda: not dock.runner.busy, timeout=60_000)
    masks = [lay for lay in viewer.layers if lay.name.startswith("big · ") and lay.name.endswith("mask")]
    assert len(masks) == 3 and masks[0].data.shape == (16, 96, 96)
    assert isinstance(given[0], da.Array)  # the engine reads it tile by tile
    assert source.reads and max(source.reads) <= 8 * 48 * 48  # chunk by chunk, never the whole volume
