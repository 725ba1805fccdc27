"""``bright4b deblur``'s PSF options: ``--method rl``, classical Richardson-Lucy deconvolution
with a known PSF, a measured one (``--psf PSF.tif``) or a Gaussian (``--psf-sigma Z Y X`` in
um); the same PSF for a model that refines Richardson-Lucy (``--method model``)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..data.io import image_output, read_image
from ..errors import BadInputError
from ..run_settings import provenance
from .options import positive_float, positive_int
from .progress import TileProgress, timings

METHODS = ("model", "rl")
ITERATIONS = 20
TV = 0.002  # measured: lifts SSIM on noisy volumes, neutral on flowdec's bars (docs/inference.md)


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--method",
        choices=METHODS,
        help="model (the learned model, -m; a model that refines Richardson-Lucy also takes --psf or "
        "--psf-sigma) or rl (Richardson-Lucy with a known PSF: --psf or --psf-sigma); default: model "
        "when -m is given or no PSF is, else rl",
    )
    parser.add_argument("--psf", help="the measured PSF, a 3D TIFF (resampled to the image's voxel size)")
    parser.add_argument(
        "--psf-sigma", nargs=3, type=positive_float, metavar=("Z", "Y", "X"), help="a Gaussian PSF's sigma, um"
    )
    parser.add_argument("--iterations", type=positive_int, help=f"rl: iterations ({ITERATIONS})")
    parser.add_argument(
        "--tv", type=float, help=f"rl: total-variation weight against noise amplification ({TV}; 0: none)"
    )


def check_method(args: argparse.Namespace) -> None:
    """Choose the method (model when -m is given, else rl); refuse options it would ignore
    and a method without what it needs. A model's own need for a PSF is checked once its
    card is read (:func:`model_psf`)."""
    psf_given = args.psf is not None or args.psf_sigma is not None
    args.method = args.method or ("model" if args.model or not psf_given else "rl")
    if args.psf is not None and args.psf_sigma is not None:
        raise BadInputError("give one PSF: --psf PSF.tif or --psf-sigma Z Y X (um), not both")
    settings = [
        flag for flag, key in (("--iterations", "iterations"), ("--tv", "tv")) if getattr(args, key) is not None
    ]
    if args.method == "model":
        if args.model is None:
            raise BadInputError("deblur needs a model (-m NAME) or --method rl with --psf/--psf-sigma")
        if settings:
            raise BadInputError(f"{settings[0]} is for --method rl; a model's card fixes its deconvolution settings")
        return
    if args.model is not None:
        raise BadInputError("--method rl uses a PSF, not a model; drop -m or use --method model")
    if args.views is not None:
        raise BadInputError("--views is for --method model; Richardson-Lucy has no views")
    if not psf_given:
        raise BadInputError("--method rl needs a PSF: --psf PSF.tif or --psf-sigma Z Y X (um)")
    from ..inference.deconvolution import check_settings

    args.iterations = ITERATIONS if args.iterations is None else args.iterations
    args.tv = TV if args.tv is None else args.tv
    check_settings(args.iterations, args.tv)


def model_psf(args: argparse.Namespace, voxel_size):
    """The PSF given for the model (on the image's grid ``voxel_size``), or None."""
    return _psf(args, voxel_size) if args.psf or args.psf_sigma else None


def _psf(args: argparse.Namespace, voxel_size):
    from ..inference.deconvolution import checked_psf, gaussian_psf
    from ..inference.resample import resize, target_shape

    if args.psf_sigma:
        return gaussian_psf(args.psf_sigma, voxel_size)
    measured = read_image(args.psf)
    if measured.data.shape[0] != 1:
        raise BadInputError(f"{Path(args.psf).name}: a PSF has one channel, got {measured.data.shape[0]}")
    psf = measured.data
    if measured.voxel_size:  # on the image's grid
        psf = resize(psf.astype("float32"), target_shape(psf.shape[1:], measured.voxel_size, voxel_size))
    return checked_psf(psf[0], Path(args.psf).name)


def psf_summary(args: argparse.Namespace, psf) -> dict:
    return {"source": args.psf or f"Gaussian sigma {list(args.psf_sigma)} um", "shape": list(psf.shape)}


def run_rl(args: argparse.Namespace, started: float) -> dict:
    """Deconvolve ``args.image`` into ``args.output`` (float32, the input's intensity units);
    returns the run's summary."""
    from ..inference.deconvolution import deconvolve
    from ..inference.resample import check_voxel_size
    from ..models.device import resolve_device

    volume = read_image(args.image, args.channel, args.axes)
    if not (args.voxel_size or volume.voxel_size):
        raise BadInputError(f"{Path(args.image).name} records no voxel size; give it with --voxel-size Z Y X (um)")
    voxel_size = list(check_voxel_size(args.voxel_size or volume.voxel_size))
    psf = _psf(args, voxel_size)
    device = resolve_device(args.device).device
    loaded = time.perf_counter()
    made = provenance("deblur", vars(args), None, args.image)
    with image_output(args.output, volume.data.shape, "float32", voxel_size, made) as sharp:
        with TileProgress("deblur", not args.json) as progress:
            deconvolve(
                volume.data, psf, args.iterations, args.tv, tile=args.tile, device=device, out=sharp, progress=progress
            )
    finished = time.perf_counter()
    return {
        "command": "deblur",
        "model": f"Richardson-Lucy, {args.iterations} iterations, tv {args.tv:g}",
        "device": str(device),
        "input": {"path": args.image, "shape": list(volume.data.shape), "voxel_size": voxel_size},
        "psf": psf_summary(args, psf),
        "outputs": {"deblurred": args.output},
        **timings(started, loaded, finished, volume.data[0].size),
    }
