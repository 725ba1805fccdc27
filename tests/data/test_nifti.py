import nibabel
import numpy as np
import pytest

from napari_bright4b.data.io import read_image
from napari_bright4b.errors import BadInputError


def save_nifti(path, data_xyz, zooms, unit="micron", offset=(0.0, 0.0, 0.0)):
    affine = np.diag([*zooms[:3], 1.0])
    affine[:3, 3] = offset
    image = nibabel.Nifti1Image(data_xyz, affine)
    image.header.set_zooms(zooms)
    image.header.set_xyzt_units(xyz=unit)
    nibabel.save(image, path)
    return path


def volume_zyx(shape=(5, 12, 9)):
    return np.random.default_rng(0).integers(0, 4000, size=shape).astype(np.uint16)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_nifti_reads_as_czyx_with_its_voxel_size_and_origin_in_micrometres(tmp_path, suffix):
    zyx = volume_zyx()
    path = save_nifti(tmp_path / f"sheet{suffix}", zyx.transpose(2, 1, 0), (0.5, 0.25, 2.0), offset=(10, 20, 30))
    volume = read_image(path)
    assert volume.data.shape == (1, 5, 12, 9) and np.array_equal(np.asarray(volume.data)[0], zyx)
    assert volume.voxel_size == pytest.approx((2.0, 0.25, 0.5)) and volume.origin == pytest.approx((30, 20, 10))


def test_millimetres_are_converted_and_an_unknown_unit_gives_no_voxel_size(tmp_path):
    xyz = volume_zyx().transpose(2, 1, 0)
    assert read_image(save_nifti(tmp_path / "mm.nii", xyz, (0.001, 0.001, 0.004), "mm")).voxel_size == pytest.approx(
        (4.0, 1.0, 1.0)
    )
    assert read_image(save_nifti(tmp_path / "unknown.nii", xyz, (1, 1, 1), "unknown")).voxel_size is None


def test_a_time_series_is_refused_with_the_way_to_read_channels_and_large_files_are_lazy(tmp_path, monkeypatch):
    xyzc = np.stack([volume_zyx().transpose(2, 1, 0)] * 2, axis=-1)
    path = save_nifti(tmp_path / "two.nii", xyzc, (0.5, 0.5, 1.0, 1.0))
    with pytest.raises(BadInputError, match="time series .* --axes XYZC"):
        read_image(path)
    assert read_image(path, axes="XYZC").data.shape == (2, 5, 12, 9)
    monkeypatch.setattr("napari_bright4b.data.nifti.LAZY_BYTES", 0)
    lazy = read_image(path, channel=1, axes="XYZC")
    assert type(lazy.data).__module__.startswith("dask")
    assert np.array_equal(lazy.data.compute()[0], volume_zyx())
