import json

import numpy as np
import pytest
import tifffile

from napari_bright4b.cli import main
from napari_bright4b.data.io import read_image
from napari_bright4b.data.tiff import write_tiff
from napari_bright4b.models.card import ModelCard
from napari_bright4b.models.checkpoint import build_model, save_checkpoint
from napari_bright4b.models.config import HeadConfig
from napari_bright4b.models.presets import PRESETS

VOXEL = (0.5, 0.2, 0.2)


def save_model(path, head, name="m", **card_fields):
    card = ModelCard(
        name=name, config=PRESETS["nano"].config, head=head, voxel_size=VOXEL, tile=(8, 64, 64), **card_fields
    )
    return save_checkpoint(build_model(card), card, path)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    write_tiff(folder / "img.tif", rng.integers(0, 3000, size=(10, 70, 60)).astype(np.uint16), VOXEL)
    save_model(folder / "seg.safetensors", HeadConfig(class_names=("nuclei", "nucleoli")))
    save_model(folder / "deblur.safetensors", HeadConfig(task="deblur", class_names=("sharp",)))
    rl = {"iterations": 3, "tv": 0.002}
    save_model(folder / "refine.safetensors", HeadConfig(task="deblur", class_names=("sharp",)), deconvolution=rl)
    save_model(folder / "stain.safetensors", HeadConfig(task="classify", class_names=("nuclear", "vessel", "plaque")))
    return folder


def segment(workdir, *options):
    return ["segment", str(workdir / "img.tif"), "-m", str(workdir / "seg.safetensors"), *map(str, options)]


def run_json(capsys, argv):
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_segment_writes_masks_and_probabilities_on_the_input_grid(workdir, tmp_path, capsys):
    before = (workdir / "img.tif").read_bytes()
    out, prob = tmp_path / "masks.tif", tmp_path / "prob.zarr"
    summary = run_json(
        capsys, segment(workdir, "-o", str(out), "--prob", str(prob), "--threshold", "0.5", "--tile", "8", "48", "48")
    )
    assert (workdir / "img.tif").read_bytes() == before  # the input is never touched
    masks, probs = read_image(out), read_image(prob)
    assert masks.data.shape == (2, 10, 70, 60) and masks.voxel_size == pytest.approx(VOXEL)
    assert probs.data.shape == (2, 10, 70, 60) and probs.voxel_size == pytest.approx(VOXEL)
    assert np.array_equal(masks.data, (np.asarray(probs.data) > 0.5).astype(np.uint8))
    assert summary["thresholds"] == {"nuclei": 0.5, "nucleoli": 0.5} and summary["input"]["from"] == "file"
    assert set(summary["seconds"]) == {"load", "run", "total"} and isinstance(summary["voxels_per_s"], int)


def test_segment_instances_and_resampling_keep_the_input_shape(workdir, tmp_path, capsys):
    out = tmp_path / "labels.tif"
    summary = run_json(
        capsys, segment(workdir, "-o", str(out), "--split-touching", "--voxel-size", "0.8", "0.3", "0.25")
    )
    labels = read_image(out)
    assert labels.data.shape == (2, 10, 70, 60) and labels.voxel_size == pytest.approx((0.8, 0.3, 0.25))
    assert [int(labels.data[k].max()) for k in range(2)] == list(summary["instances"].values())


def test_deblur_and_classify(workdir, tmp_path, capsys):
    out = tmp_path / "sharp.zarr"
    run_json(capsys, ["deblur", str(workdir / "img.tif"), "-m", str(workdir / "deblur.safetensors"), "-o", str(out)])
    sharp = read_image(out)
    assert sharp.data.shape == (1, 10, 70, 60) and sharp.data.dtype == np.float32
    viewed = tmp_path / "viewed.tif"
    deblur = ["deblur", str(workdir / "img.tif"), "-m", str(workdir / "deblur.safetensors"), "-o", str(viewed)]
    run_json(capsys, [*deblur, "--views", "2"])
    assert np.abs(read_image(viewed).data - np.asarray(sharp.data)).max() > 0  # two views of a random model differ
    summary = run_json(
        capsys,
        [
            "classify",
            str(workdir / "img.tif"),
            "-m",
            str(workdir / "stain.safetensors"),
            "--map",
            str(tmp_path / "map.tif"),
        ],
    )
    assert np.isclose(sum(summary["probabilities"].values()), 1.0, atol=1e-4)
    assert summary["prediction"] == max(summary["probabilities"], key=summary["probabilities"].get)
    class_map = read_image(tmp_path / "map.tif").data
    assert class_map.shape == (1, 10, 70, 60) and set(np.unique(class_map)) <= {1, 2, 3}


def test_a_preset_warns_that_its_weights_are_random(workdir, tmp_path, capsys):
    assert main(["segment", str(workdir / "img.tif"), "-m", "nano", "-o", str(tmp_path / "m.tif")]) == 0
    assert "random weights" in capsys.readouterr().err


def _bad_inputs(folder):
    write_tiff(folder / "nan.tif", np.full((4, 16, 16), np.nan, np.float32), None)
    write_tiff(folder / "flat.tif", np.full((4, 16, 16), 7, np.uint16), None)
    tifffile.imwrite(folder / "movie.tif", np.zeros((3, 4, 16, 16), np.uint8), imagej=True, metadata={"axes": "TZYX"})
    (folder / "junk.tif").write_bytes(b"not a tiff at all")
    write_tiff(folder / "two.tif", np.zeros((2, 4, 16, 16), np.uint16), None)


@pytest.mark.parametrize(
    "argv,message",
    [
        (["segment", "missing.tif", "-m", "SEG", "-o", "o.tif"], "does not exist"),
        (["segment", "junk.tif", "-m", "SEG", "-o", "o.tif"], "could not be read as TIFF"),
        (["segment", "movie.tif", "-m", "SEG", "-o", "o.tif"], "time series"),
        (["segment", "nan.tif", "-m", "SEG", "-o", "o.tif"], "NaN"),
        (["segment", "flat.tif", "-m", "SEG", "-o", "o.tif"], "constant"),
        (["segment", "two.tif", "-m", "SEG", "-o", "o.tif"], "--channel N"),
        (["segment", "two.tif", "-m", "SEG", "-o", "o.tif", "--channel", "2"], "--channel must be 0..1"),
        (["segment", "IMG", "-m", "SEG", "-o", "o.tif", "--voxel-size", "0", "1", "1"], "positive number"),
        (["segment", "IMG", "-m", "no-such-model", "-o", "o.tif"], "unknown model"),
        (["segment", "IMG", "-m", "SEG", "-o", "o.png"], "must be TIFF"),
        (["segment", "IMG", "-m", "SEG", "-o", "o.tif", "--threshold", "2"], "'otsu' or a number"),
        (["segment", "IMG", "-m", "SEG", "-o", "o.tif", "--overlap", "1.5"], "overlap must be"),
        (["segment", "IMG", "-m", "SEG", "-o", "o.tif", "--device", "gpu"], "unknown device"),
        (["deblur", "IMG", "-m", "DEBLUR", "-o", "o.tif", "--views", "3"], "invalid choice: 3"),
        (["segment", "IMG", "-m", "SEG", "-o", "o.tif", "--prob", "o.tif"], "must differ"),
        (["segment", "IMG", "-m", "SEG", "-o", "IMG"], "is the input image"),
        (["segment", "IMG", "-m", "DEBLUR", "-o", "o.tif"], "is a deblur model; use `bright4b deblur`"),
        (["classify", "IMG", "-m", "SEG"], "is a segment model"),
        (["segment", "IMG", "-m", "SEG", "-o", "o.tif", "--dask", "--split-touching"], "not available with --dask"),
        (["segment", "IMG", "-m", "SEG", "-o", "o.tif", "--dask"], "give .zarr output paths"),
        (["evaluate", "IMG", "two.tif"], "must match"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(workdir, tmp_path, capsys, monkeypatch, argv, message):
    _bad_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    names = {"SEG": workdir / "seg.safetensors", "DEBLUR": workdir / "deblur.safetensors", "IMG": workdir / "img.tif"}
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main([str(names.get(a, a)) for a in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()  # notes may come first; one error line, last
    assert [line for line in err if "error:" in line] == err[-1:] and message in err[-1], err
    assert not any("Traceback" in line for line in err)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_deblur_rl_with_a_gaussian_or_measured_psf(workdir, tmp_path, capsys):
    from napari_bright4b.inference.deconvolution import gaussian_psf

    image = str(workdir / "img.tif")
    out = tmp_path / "rl.tif"
    summary = run_json(capsys, ["deblur", image, "--psf-sigma", "1", "0.4", "0.4", "-o", str(out)])  # rl: a PSF
    gaussian = read_image(out)
    assert gaussian.data.shape == (1, 10, 70, 60) and gaussian.voxel_size == pytest.approx(VOXEL)
    assert summary["psf"]["shape"] == [13, 13, 13] and summary["outputs"] == {"deblurred": str(out)}
    psf_path = tmp_path / "psf.tif"
    write_tiff(psf_path, gaussian_psf((1, 0.4, 0.4), VOXEL), VOXEL)
    measured = tmp_path / "rl-measured.tif"
    run_json(capsys, ["deblur", image, "--method", "rl", "--psf", str(psf_path), "-o", str(measured)])
    np.testing.assert_allclose(read_image(measured).data, gaussian.data, rtol=1e-4, atol=1e-3)


def test_a_model_that_refines_rl_reads_the_deconvolution_by_the_given_psf(workdir, tmp_path, capsys):
    from napari_bright4b.inference.deconvolution import deconvolve, gaussian_psf
    from napari_bright4b.inference.predict import run_model
    from napari_bright4b.models.checkpoint import load_checkpoint

    image, model_path, out = workdir / "img.tif", workdir / "refine.safetensors", tmp_path / "refined.tif"
    argv = ["deblur", str(image), "-m", str(model_path), "--psf-sigma", "1", "0.4", "0.4", "--views", "1"]
    summary = run_json(capsys, [*argv, "-o", str(out)])
    assert summary["psf"]["shape"] == [13, 13, 13] and summary["outputs"] == {"deblurred": str(out)}
    model, card = load_checkpoint(model_path)
    volume = read_image(image).data.astype(np.float32)
    read = deconvolve(volume, gaussian_psf((1, 0.4, 0.4), VOXEL), 3, 0.002)
    expected = run_model(model, card, read, VOXEL, views=1)
    np.testing.assert_allclose(read_image(out).data, expected, rtol=1e-4, atol=1e-2)
    assert not np.allclose(expected, run_model(model, card, volume, VOXEL, views=1), atol=1.0)


@pytest.mark.parametrize(
    "options, message",
    [
        (["--method", "rl"], "needs a PSF"),
        (["--method", "rl", "--psf-sigma", "1", "1", "1", "-m", "x"], "not a model"),
        ([], "needs a model"),
        (["--method", "model", "--psf-sigma", "1", "1", "1"], "needs a model"),
        (["--psf", "p.tif", "--psf-sigma", "1", "1", "1"], "not both"),
        (["-m", "m.safetensors", "--iterations", "5"], "--iterations is for --method rl"),
        (["--method", "rl", "--psf-sigma", "1", "1", "1", "--tv", "0.9"], "total-variation"),
        (["-m", "{workdir}/deblur.safetensors", "--psf-sigma", "1", "1", "1"], "would ignore the PSF"),
        (["-m", "{workdir}/refine.safetensors"], "refines a Richardson-Lucy deconvolution"),
    ],
)
def test_deblur_rl_refuses_wrong_options_in_one_line(workdir, tmp_path, capsys, options, message):
    options = [option.format(workdir=workdir) for option in options]
    argv = ["deblur", str(workdir / "img.tif"), "-o", str(tmp_path / "out.tif"), *options]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out.tif").exists()


def test_evaluate_measures_distances_at_the_voxel_size(tmp_path, capsys):
    truth = np.zeros((6, 20, 20), np.uint8)
    truth[2:4, 5:15, 5:15] = 1
    shifted = np.roll(truth, 2, axis=2)  # two voxels along x
    write_tiff(tmp_path / "truth.tif", truth, (1.0, 0.5, 0.5))
    write_tiff(tmp_path / "pred.tif", shifted, (1.0, 0.5, 0.5))
    files = ["evaluate", str(tmp_path / "pred.tif"), str(tmp_path / "truth.tif")]
    from_file = run_json(capsys, files)["channels"][0]
    overridden = run_json(capsys, [*files, "--voxel-size", "1", "2", "2"])
    assert from_file["dice"] == pytest.approx(0.8) and from_file["hausdorff"] == pytest.approx(1.0)  # 2 x 0.5 um
    assert overridden["distance_unit"] == "um" and overridden["channels"][0]["hausdorff"] == pytest.approx(4.0)


def test_a_stack_saved_as_channels_is_rescued_with_axes(workdir, tmp_path, capsys):
    stack = np.random.default_rng(1).integers(0, 3000, size=(10, 70, 60)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "cyx.tif", stack, imagej=True, metadata={"axes": "CYX"})
    argv = ["segment", str(tmp_path / "cyx.tif"), "-m", str(workdir / "seg.safetensors"), "-o", str(tmp_path / "m.tif")]
    assert main(argv) == 2
    assert "--axes" in capsys.readouterr().err
    summary = run_json(capsys, [*argv, "--axes", "ZYX", "--voxel-size", *map(str, VOXEL)])
    assert summary["input"]["shape"] == [1, 10, 70, 60] and read_image(tmp_path / "m.tif").data.shape == (2, 10, 70, 60)
