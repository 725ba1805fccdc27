"""The fault matrix: a full disk, a killed process, a damaged chunk and fuzzed TIFF headers
never lose what the user had, and never end in a traceback."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from napari_bright4b.cli import main
from napari_bright4b.data.io import read_image, write_image
from napari_bright4b.data.ome_zarr import write_ome_zarr
from napari_bright4b.errors import BadInputError
from napari_bright4b.models.card import ModelCard
from napari_bright4b.models.checkpoint import build_model, save_checkpoint
from napari_bright4b.models.config import HeadConfig
from napari_bright4b.models.presets import PRESETS

VOXEL = (0.29, 0.216, 0.216)


def image(shape=(8, 48, 48)):
    return np.random.default_rng(0).normal(1000, 50, shape).astype(np.float32)


def full_disk(*args, **kwargs):
    raise OSError(28, "No space left on device")


def test_a_full_disk_during_an_output_write_keeps_the_previous_file_and_says_so(tmp_path, monkeypatch, capsys):
    source = write_image(tmp_path / "img.tif", image(), VOXEL)
    out = tmp_path / "masks.tif"
    out.write_bytes(b"the previous result")
    monkeypatch.setattr(tifffile, "imwrite", full_disk)
    assert main(["segment", str(source), "-m", "bright4b-nano-organelles", "-o", str(out), "--device", "cpu"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "No space left on device" in err and "nothing was written" in err
    assert out.read_bytes() == b"the previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img.tif", "masks.tif"]  # no temporary file left


def test_a_full_disk_during_a_checkpoint_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    card = ModelCard(name="m", config=PRESETS["nano"].config, head=HeadConfig(class_names=("a",)))
    path = save_checkpoint(build_model(card), card, tmp_path / "m.safetensors")
    before = path.read_bytes()
    monkeypatch.setattr("napari_bright4b.models.checkpoint.save_file", full_disk)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(build_model(card), card, path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_a_process_killed_during_a_save_leaves_no_half_file(tmp_path, kind):
    target = tmp_path / ("out.tif" if kind == "file" else "out.zarr")
    if kind == "file":
        target.write_bytes(b"previous")
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from napari_bright4b.files import atomic_directory, atomic_path
        if {kind == "file"}:
            with atomic_path({str(target)!r}) as tmp:
                tmp.write_bytes(b"half of a new")
                os.kill(os.getpid(), signal.SIGKILL)
        else:
            with atomic_directory({str(target)!r}) as tmp:
                (tmp / "zarr.json").write_text("{{")
                os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert killed.returncode == -9
    if kind == "file":
        assert target.read_bytes() == b"previous"
    else:
        assert not target.exists()


def test_a_damaged_zarr_chunk_gives_one_clear_line_and_no_output(tmp_path, capsys):
    source = write_ome_zarr(tmp_path / "img.zarr", image(), VOXEL)
    chunk = next(p for p in sorted((source / "0").rglob("*")) if p.is_file() and p.name != "zarr.json")
    chunk.write_bytes(os.urandom(37))
    out = tmp_path / "masks.tif"
    assert main(["segment", str(source), "-m", "bright4b-nano-organelles", "-o", str(out), "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "img.zarr is damaged" in err
    assert not out.exists()


shapes = st.lists(st.integers(1, 5), min_size=2, max_size=5)
dtypes = st.sampled_from([np.uint8, np.uint16, np.int32, np.float32, np.float64, np.complex64, bool])
flavours = st.sampled_from(["plain", "imagej", "ome"])
damage = st.lists(st.tuples(st.integers(0, 511), st.integers(0, 255)), max_size=6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=shapes, dtype=dtypes, flavour=flavours, damage=damage, resolution=st.floats(-1e3, 1e3))
def test_fuzzed_tiff_headers_are_read_or_refused_in_one_line(tmp_path, shape, dtype, flavour, damage, resolution):
    path = tmp_path / "fuzz.tif"
    data = np.ones(shape, dtype)
    options = {"imagej": {"imagej": True}, "ome": {"ome": True}, "plain": {"photometric": "minisblack"}}[flavour]
    try:
        tifffile.imwrite(path, data, resolution=(resolution, resolution), **options)
    except Exception:  # tifffile refuses to write this combination: nothing to read
        return
    raw = bytearray(path.read_bytes())
    for offset, value in damage:
        if offset < len(raw):
            raw[offset] = value
    path.write_bytes(bytes(raw))
    try:
        volume = read_image(path)
    except BadInputError as err:
        assert "\n" not in str(err)
        return
    assert volume.data.ndim == 4 and (volume.voxel_size is None or all(v > 0 for v in volume.voxel_size))


def test_a_lazy_tiff_pickles_to_dask_workers_and_reads_there(tmp_path, monkeypatch):
    import pickle

    from napari_bright4b.data import tiff

    monkeypatch.setattr(tiff, "LAZY_BYTES", 0)
    path = write_image(tmp_path / "big.tif", image(), VOXEL)
    volume = read_image(path)
    copy = pickle.loads(pickle.dumps(volume.data))  # what a process-based cluster does with the graph
    np.testing.assert_array_equal(np.asarray(copy)[0], image())


def test_a_truncated_nifti_and_an_unreadable_provenance_are_handled_in_one_line(tmp_path):
    from tests.data.test_nifti import save_nifti, volume_zyx

    path = save_nifti(tmp_path / "cut.nii.gz", volume_zyx().transpose(2, 1, 0), (0.5, 0.5, 1.0))
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(BadInputError, match="cut.nii.gz is damaged"):
        read_image(path)
    odd = tmp_path / "odd.tif"
    provenance = {"axes": "ZYX", "Properties": {"bright4b_provenance": "{"}}
    tifffile.imwrite(odd, np.ones((2, 4, 4), np.uint8), imagej=True, metadata=provenance)
    assert read_image(odd).provenance is None
