import numpy as np
import pytest

import napari_bright4b as b4
from napari_bright4b.data.tiff import write_tiff
from napari_bright4b.errors import BadInputError
from napari_bright4b.inference.job import Labelling, run_job

VOXEL = (0.29, 0.216, 0.216)


def image(shape=(8, 64, 64), seed=0):
    return np.random.default_rng(seed).normal(1000, 50, size=shape).astype(np.float32)


def test_segment_from_an_array_equals_the_widgets_job_and_leaves_the_array_alone():
    data = image()
    original = data.copy()
    result = b4.segment(data, voxel_size=VOXEL, device="cpu", labelling=Labelling(threshold=0.3))
    job = run_job("bright4b-nano-organelles", data[None], VOXEL, device="cpu", labelling=Labelling(threshold=0.3))
    assert np.array_equal(data, original)
    assert np.array_equal(result.maps, job.maps) and result.voxel_size == VOXEL
    assert [s.cut for s in result.structures] == [0.3, 0.3, 0.3]


def test_segment_from_a_file_reads_its_voxel_size(tmp_path):
    path = write_tiff(tmp_path / "stack.tif", image(), (0.58, 0.432, 0.432))
    result = b4.segment(path, device="cpu")
    assert result.voxel_size == (0.58, 0.432, 0.432) and result.maps.shape == (3, 8, 64, 64)
    given = b4.segment(str(path), voxel_size=VOXEL, device="cpu")  # a given size wins over the file's
    assert given.voxel_size == VOXEL


def test_bad_images_and_models_of_another_task_get_clear_errors():
    with pytest.raises(BadInputError, match=r"\(Z, Y, X\) or \(C, Z, Y, X\) array"):
        b4.segment(np.zeros((64, 64)), voxel_size=VOXEL)
    with pytest.raises(BadInputError, match="channel must be 0..0"):
        b4.segment(image(), voxel_size=VOXEL, channel=1)
    with pytest.raises(BadInputError, match="is a segment model, not a deblur model"):
        b4.deblur(image(), "bright4b-nano-organelles", voxel_size=VOXEL, device="cpu")
    with pytest.raises(BadInputError, match="needs the image's voxel size"):
        b4.finetune(image(), np.zeros((8, 64, 64), np.uint8))


def test_finetune_instant_learns_from_strokes_and_inspect_maps_the_routing():
    data = image()
    data[:, 16:48, 16:48] += 400  # a bright square to paint
    strokes = np.zeros(data.shape, np.uint8)
    strokes[4, 2:8, 2:60] = 1
    strokes[4, 24:40, 24:40] = 2
    result = b4.finetune(data, strokes, voxel_size=VOXEL, names={2: "square"})
    assert result.labels.shape == data.shape
    assert (result.labels[:, 24:40, 24:40] == 2).mean() > 0.9 and (result.labels[:, :8] == 0).mean() > 0.9
    inspection = b4.inspect(data, voxel_size=VOXEL, device="cpu")
    assert inspection.model == "bright4b-nano-organelles" and np.isfinite(inspection.entropy).all()
