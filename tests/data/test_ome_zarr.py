import json

import numpy as np
import pytest
import zarr

from napari_bright4b.data.io import check_output_path, image_output, read_image, write_image
from napari_bright4b.data.ome_zarr import read_ome_zarr, write_ome_zarr
from napari_bright4b.errors import BadInputError


def test_round_trip_keeps_data_voxel_size_and_ngff_05_metadata(tmp_path):
    data = np.random.default_rng(0).integers(0, 60000, size=(2, 5, 33, 17)).astype(np.uint16)
    path = write_ome_zarr(tmp_path / "img.ome.zarr", data, (0.29, 0.108, 0.11))
    meta = json.loads((path / "zarr.json").read_text())
    ome = meta["attributes"]["ome"]
    assert meta["zarr_format"] == 3 and ome["version"] == "0.5"
    multiscale = ome["multiscales"][0]
    assert [a["name"] for a in multiscale["axes"]] == ["c", "z", "y", "x"]
    assert multiscale["datasets"][0]["coordinateTransformations"][0]["scale"] == [1.0, 0.29, 0.108, 0.11]
    back = read_image(path)
    assert back.voxel_size == (0.29, 0.108, 0.11)
    assert np.array_equal(np.asarray(back.data), data)
    assert np.array_equal(np.asarray(read_image(path, channel=1).data), data[1:])
    with pytest.raises(BadInputError, match="--channel must be 0..1"):
        read_image(path, channel=2)


def test_reads_ngff_04_on_zarr_v2_with_units_and_a_singleton_time_axis(tmp_path):
    group = zarr.open_group(str(tmp_path / "old.zarr"), mode="w", zarr_format=2)
    axes = [{"name": "t", "type": "time"}] + [{"name": a, "type": "space", "unit": "nanometer"} for a in "zyx"]
    transform = [{"type": "scale", "scale": [1, 500, 100, 100]}]
    group.attrs["multiscales"] = [
        {"version": "0.4", "axes": axes, "datasets": [{"path": "s0", "coordinateTransformations": transform}]}
    ]
    group.create_array("s0", shape=(1, 3, 8, 8), dtype="f4")[...] = 1.5
    volume = read_ome_zarr(tmp_path / "old.zarr")
    assert volume.data.shape == (1, 3, 8, 8) and np.allclose(volume.voxel_size, (0.5, 0.1, 0.1))
    group.create_array("s1", shape=(4, 3, 8, 8), dtype="f4")
    group.attrs["multiscales"] = [{**group.attrs["multiscales"][0], "datasets": [{"path": "s1"}]}]
    with pytest.raises(BadInputError, match="time series"):
        read_ome_zarr(tmp_path / "old.zarr")


def test_failed_outputs_leave_nothing_and_existing_results_are_replaced_whole(tmp_path):
    target = tmp_path / "out.zarr"
    with pytest.raises(RuntimeError):
        with image_output(target, (1, 2, 4, 4), "uint8", None) as out:
            out[0, 0] = 1
            raise RuntimeError("cancelled half way")
    assert list(tmp_path.iterdir()) == []
    write_image(target, np.ones((2, 4, 4), np.uint8), None)
    write_image(target, np.full((2, 4, 4), 7, np.uint8), (1.0, 1.0, 1.0))
    assert (np.asarray(read_image(target).data) == 7).all() and [p.name for p in tmp_path.iterdir()] == ["out.zarr"]
    with image_output(tmp_path / "t.tif", (1, 2, 4, 4), "float32", (1.0, 0.5, 0.5)) as out:
        out[...] = 3
    tif = read_image(tmp_path / "t.tif")
    assert tif.data.shape == (1, 2, 4, 4) and (tif.data == 3).all() and tif.voxel_size == pytest.approx((1, 0.5, 0.5))


@pytest.mark.parametrize("name,message", [("x.png", "must be TIFF"), ("x", "must be TIFF")])
def test_unwritable_output_types_are_refused_before_any_work(tmp_path, name, message):
    with pytest.raises(BadInputError, match=message):
        check_output_path(tmp_path / name)


def test_unreadable_inputs_are_refused(tmp_path):
    with pytest.raises(BadInputError, match="does not exist"):
        read_image(tmp_path / "missing.tif")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(BadInputError, match="unsupported file type"):
        read_image(tmp_path / "notes.txt")
    (tmp_path / "empty.zarr").mkdir()
    with pytest.raises(BadInputError, match="could not be read as zarr"):
        read_image(tmp_path / "empty.zarr")
