import numpy as np
import pytest

from napari_bright4b.cli import main
from napari_bright4b.data.io import read_image
from napari_bright4b.data.ome_zarr import write_ome_zarr
from napari_bright4b.models.config import HeadConfig
from tests.cli.test_predict_commands import VOXEL, save_model

distributed = pytest.importorskip("distributed")


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal labelings up to renaming the ids (0 stays background)."""
    if not np.array_equal(a > 0, b > 0):
        return False
    pairs = np.unique(np.stack([a[a > 0], b[b > 0]]), axis=1)
    return len(np.unique(pairs[0])) == len(np.unique(pairs[1])) == pairs.shape[1]


def one_and_many(tmp_path, shape, voxel_size, seed, options, chunks):
    """Segment one synthetic OME-Zarr in one process and on a two-worker cluster; the
    probabilities and labels of both, as arrays."""
    save_model(tmp_path / "seg.safetensors", HeadConfig(class_names=("nuclei",)))
    image = np.random.default_rng(seed).integers(0, 3000, size=shape).astype(np.uint16)
    write_ome_zarr(tmp_path / "img.zarr", image, voxel_size)
    common = ["segment", str(tmp_path / "img.zarr"), "-m", str(tmp_path / "seg.safetensors"), *options, "--json"]
    assert main([*common, "-o", str(tmp_path / "one.zarr"), "--prob", str(tmp_path / "one_p.zarr")]) == 0
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
        argv = [*common, "-o", str(tmp_path / "many.zarr"), "--prob", str(tmp_path / "many_p.zarr")]
        assert main([*argv, "--dask", "--scheduler", cluster.scheduler_address, "--chunks", *map(str, chunks)]) == 0
    names = ("one_p.zarr", "many_p.zarr", "one.zarr", "many.zarr")
    return [np.asarray(read_image(tmp_path / n).data) for n in names]


def test_dask_on_two_workers_equals_the_single_process_engine(tmp_path):
    options = ["--instances", "--tile", "8", "64", "64", "--threshold", "0.5"]
    one_p, many_p, one, many = one_and_many(tmp_path, (16, 140, 130), VOXEL, 0, options, (16, 70, 65))
    np.testing.assert_allclose(many_p, one_p, atol=1e-5)
    assert many[0].max() > 1 and same_partition(one[0], many[0])  # ids global and stitched across chunk faces
    assert read_image(tmp_path / "many.zarr").voxel_size == pytest.approx(VOXEL)


def test_dask_at_another_voxel_size_resamples_inside_the_graph_and_equals_the_single_process_engine(tmp_path):
    other = (0.8, 0.13, 0.25)  # finer in y, coarser in z and x than the model's (0.5, 0.2, 0.2)
    options = ["--tile", "8", "48", "48", "--threshold", "0.5"]
    one_p, many_p, _, _ = one_and_many(tmp_path, (10, 150, 70), other, 1, options, (10, 60, 40))
    assert many_p.shape == one_p.shape == (1, 10, 150, 70)
    np.testing.assert_allclose(many_p, one_p, atol=1e-4)
    assert read_image(tmp_path / "many.zarr").voxel_size == pytest.approx(other)


def test_lazy_resampling_equals_the_engines_whole_volume_resize():
    import dask.array as da

    from napari_bright4b.inference.resample import resize, resize_lazy

    volume = np.random.default_rng(0).random((2, 17, 53, 41)).astype(np.float32)
    for shape in [(9, 100, 23), (34, 20, 41), (5, 7, 3)]:
        lazy = resize_lazy(da.from_array(volume, chunks=(1, 5, 16, 16)), shape)
        np.testing.assert_allclose(lazy.compute(), resize(volume, shape), atol=1e-6)
