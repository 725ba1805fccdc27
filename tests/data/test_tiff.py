import numpy as np
import pytest
import tifffile

from napari_bright4b.data.tiff import read_tiff, write_tiff
from napari_bright4b.errors import BadInputError


def test_round_trip_keeps_data_and_voxel_size(tmp_path):
    data = np.random.default_rng(0).integers(0, 4000, size=(5, 30, 40)).astype(np.uint16)
    path = write_tiff(tmp_path / "stack.tif", data, (0.29, 0.108, 0.108))
    volume = read_tiff(path)
    assert volume.data.shape == (1, 5, 30, 40) and np.array_equal(volume.data[0], data)
    assert np.allclose(volume.voxel_size, (0.29, 0.108, 0.108), rtol=1e-4)
    assert [p.name for p in tmp_path.iterdir()] == ["stack.tif"]  # no temporary left behind


def test_multichannel_round_trip_and_channel_choice(tmp_path):
    data = np.arange(2 * 3 * 8 * 9, dtype=np.float32).reshape(2, 3, 8, 9)
    path = write_tiff(tmp_path / "two.tif", data, (1.0, 0.5, 0.5))
    assert np.array_equal(read_tiff(path).data, data)
    assert np.array_equal(read_tiff(path, channel=1).data, data[1:2])
    with pytest.raises(BadInputError, match="--channel must be 0..1"):
        read_tiff(path, channel=2)


def test_ome_voxel_size_is_read(tmp_path):
    path = tmp_path / "ome.ome.tif"
    meta = {"axes": "ZYX", "PhysicalSizeZ": 0.5, "PhysicalSizeY": 0.2, "PhysicalSizeX": 0.25}
    tifffile.imwrite(path, np.zeros((3, 8, 8), np.uint8), ome=True, metadata=meta)
    assert read_tiff(path).voxel_size == (0.5, 0.2, 0.25)


@pytest.mark.parametrize("unit, factor", [("nm", 1e-3), ("micron", 1.0), ("\\u00B5m", 1.0), ("mm", 1e3)])
def test_imagej_units_are_converted_to_micrometres(tmp_path, unit, factor):
    path = tmp_path / "imagej.tif"
    meta = {"axes": "ZYX", "spacing": 290.0, "unit": unit}
    tifffile.imwrite(path, np.zeros((3, 8, 8), np.uint8), imagej=True, resolution=(1 / 108.0, 1 / 100.0), metadata=meta)
    assert read_tiff(path).voxel_size == pytest.approx((290.0 * factor, 100.0 * factor, 108.0 * factor))


def test_ome_units_are_converted_and_a_non_length_unit_gives_none(tmp_path):
    path = tmp_path / "nm.ome.tif"
    meta = {"axes": "ZYX", "PhysicalSizeZ": 500, "PhysicalSizeY": 200, "PhysicalSizeX": 250}
    meta |= {f"PhysicalSize{a}Unit": "nm" for a in "ZYX"}
    tifffile.imwrite(path, np.zeros((3, 8, 8), np.uint8), ome=True, metadata=meta)
    assert read_tiff(path).voxel_size == pytest.approx((0.5, 0.2, 0.25))
    pixels = tmp_path / "pixel.tif"
    meta = {"axes": "ZYX", "spacing": 1.0, "unit": "pixel"}
    tifffile.imwrite(pixels, np.zeros((3, 8, 8), np.uint8), imagej=True, resolution=(1.0, 1.0), metadata=meta)
    assert read_tiff(pixels).voxel_size is None  # not a length: ask the user rather than guess


def test_plain_tiff_has_no_voxel_size(tmp_path):
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, np.zeros((3, 8, 8), np.uint8), photometric="minisblack")
    assert read_tiff(path).voxel_size is None


def test_bad_files_get_clear_errors(tmp_path):
    rgb = tmp_path / "rgb.tif"
    tifffile.imwrite(rgb, np.zeros((16, 16, 3), np.uint8), photometric="rgb")
    with pytest.raises(BadInputError, match="RGB"):
        read_tiff(rgb)
    series = tmp_path / "t.tif"
    tifffile.imwrite(series, np.zeros((4, 3, 8, 8), np.uint8), imagej=True, metadata={"axes": "TZYX"})
    with pytest.raises(BadInputError, match="time series"):
        read_tiff(series)
    junk = tmp_path / "junk.tif"
    junk.write_bytes(b"not a tiff")
    with pytest.raises(BadInputError, match="could not be read"):
        read_tiff(junk)
    with pytest.raises(BadInputError, match="not a TIFF"):
        read_tiff(tmp_path / "image.png")
    with pytest.raises(BadInputError, match="does not exist"):
        read_tiff(tmp_path / "missing.tif")


def test_labels_are_written_as_uint16_when_they_fit_and_as_ome_tiff_otherwise(tmp_path):
    small = np.arange(2 * 3 * 4 * 5, dtype=np.uint32).reshape(2, 3, 4, 5)
    write_tiff(tmp_path / "small.tif", small, (0.5, 0.2, 0.1))
    back = read_tiff(tmp_path / "small.tif")
    assert back.data.dtype == np.uint16 and np.array_equal(back.data, small)
    big = small.astype(np.uint32) + 100_000
    write_tiff(tmp_path / "big.tif", big, (0.5, 0.2, 0.1))
    back = read_tiff(tmp_path / "big.tif")
    assert back.data.dtype == np.uint32 and np.array_equal(back.data, big)
    assert back.voxel_size == pytest.approx((0.5, 0.2, 0.1))


def test_axes_override_rescues_a_stack_saved_as_channels(tmp_path):
    path = tmp_path / "c48.tif"
    data = np.arange(12 * 8 * 8, dtype=np.uint16).reshape(12, 8, 8)
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "CYX"})
    with pytest.raises(BadInputError, match="--axes"):
        read_tiff(path)  # 12 channels and no z: the error says how to rescue it
    rescued = read_tiff(path, axes="zyx")
    assert rescued.data.shape == (1, 12, 8, 8) and np.array_equal(rescued.data[0], data)
    with pytest.raises(BadInputError, match="one letter per dimension"):
        read_tiff(path, axes="ZY")


def test_a_large_tiff_is_read_lazily_and_equals_the_eager_read(tmp_path, monkeypatch):
    from napari_bright4b.data import tiff

    data = np.random.default_rng(0).integers(0, 4000, size=(2, 7, 20, 30), dtype=np.uint16)
    path = write_tiff(tmp_path / "two.tif", data, (0.5, 0.2, 0.2))
    eager = read_tiff(path)
    monkeypatch.setattr(tiff, "LAZY_BYTES", 0)
    lazy = read_tiff(path, channel=1)
    assert type(lazy.data).__module__.startswith("dask") and lazy.voxel_size == eager.voxel_size
    assert np.array_equal(lazy.data[:, 2:5, 3:9].compute(), eager.data[1:2, 2:5, 3:9])


def test_labels_are_marked_in_imagej_and_ome_tiffs_and_images_are_not(tmp_path):
    small = np.arange(60, dtype=np.uint16).reshape(1, 6, 10)
    large = small.astype(np.uint32) + 70000  # beyond uint16: written as OME-TIFF
    for name, data in (("small.tif", small), ("large.tif", large)):
        assert read_tiff(write_tiff(tmp_path / name, data, None, labels=True)).labels
        assert not read_tiff(write_tiff(tmp_path / f"image-{name}", data, None)).labels


def test_an_ome_tif_path_is_written_as_ome_tiff_with_its_voxel_size_and_notes(tmp_path):
    data = np.arange(120, dtype=np.uint16).reshape(2, 6, 10)
    path = write_tiff(tmp_path / "cells.ome.tif", data, (0.5, 0.2, 0.1), labels=True, provenance={"model": "m"})
    with tifffile.TiffFile(path) as tif:
        assert tif.is_ome and not tif.is_imagej
    back = read_tiff(path)
    assert back.voxel_size == pytest.approx((0.5, 0.2, 0.1)) and back.labels and back.provenance == {"model": "m"}
    assert np.array_equal(back.data[0], data)
