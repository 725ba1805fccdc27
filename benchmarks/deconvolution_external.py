"""Deblurring on data this project did not make, and on PSFs outside the model's training ranges.

    OMP_NUM_THREADS=2 python benchmarks/deconvolution_external.py --json OUT.json [--iterations 20 100]
        [--tv 0.002 [0.004 ...]]

Cases:

- ``flowdec-bars``: flowdec 1.1.0's ``datasets/bars-25pct`` (a blurred, noisy volume, its
  PSF and the truth), fetched by ``pip download --no-deps`` into the benchmark cache
  (:mod:`external_data`) and read from the wheel;
- ``sim-wide-psf``, ``sim-narrow-psf`` and ``sim-steep-widefield``: sharp light-sheet
  volumes of our simulator (three stains each) blurred by PSFs outside the classic training
  ranges (0.8-2 / 2-5 um), with Poisson and read noise: Gaussians wide (3 / 8 um, beyond
  the randomized ranges too) and narrow (0.5 / 1.2 um, inside them), and a widefield PSF of an
  NA 1.4 oil objective (out-of-focus cone slope 2.3) over ±40 um: no recipe trains on a
  widefield PSF, and the simulator's held-out widefield family draws slopes 0.2-1.5.

Methods: the blurred input; Richardson-Lucy (``inference/deconvolution.py``) with the true
PSF for each ``--iterations``, with each total variation ``--tv`` (0.002: ``rl_N_tv``; others
``rl_N_tvT``), and with a PSF 30% too wide (what a user who knows the PSF only roughly
gets); each of ``--models`` (``bright4b-nano-deblur``; scored as ``model`` when one is
given, else by its name or file stem); a model that refines Richardson-Lucy
(``bright4b-nano-deblur-rl``) with the true PSF and with the one 30% too wide. Each volume
is normalized by the blurred input's 1st/99th percentiles and clipped to [0, 1], as the
light-sheet paper does; 3D SSIM and PSNR against the truth. Prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from _common import environment, write_json
from external_data import fetch_wheel
from scipy import ndimage
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from napari_bright4b.api import load_model
from napari_bright4b.data.external import read_member
from napari_bright4b.data.synthetic.lightsheet import CAMERA_OFFSET, LIGHTSHEET_VOXEL_SIZE, simulate_lightsheet
from napari_bright4b.data.synthetic.widefield import mirrored_convolution, widefield_psf
from napari_bright4b.inference.deconvolution import checked_psf, deblur_input, deconvolve, gaussian_psf
from napari_bright4b.inference.predict import run_model

MODEL = "bright4b-nano-deblur"
TOO_WIDE = 1.3
TV = 0.002
SIM_SHAPE = (32, 96, 96)
SIM_PSFS = {
    "sim-wide-psf": gaussian_psf((8.0, 3.0, 3.0), LIGHTSHEET_VOXEL_SIZE),  # sigma z, y, x um
    "sim-narrow-psf": gaussian_psf((1.2, 0.5, 0.5), LIGHTSHEET_VOXEL_SIZE),
    "sim-steep-widefield": widefield_psf(LIGHTSHEET_VOXEL_SIZE, 0.5, 2.3, 40.0, SIM_SHAPE),
}
SIM_SEEDS = {"nuclear": 9300, "vessel": 9301, "neuron": 9302}


def scores(restored: np.ndarray, truth: np.ndarray, blurred: np.ndarray) -> dict[str, float]:
    """SSIM and PSNR after normalizing both by ``blurred``'s 1st/99th percentiles into [0, 1]."""
    low, high = np.percentile(blurred, (1, 99))

    def norm(a):
        return np.clip((a - low) / max(high - low, 1e-9), 0, 1)

    a, b = norm(restored.astype(np.float64)), norm(truth.astype(np.float64))
    return {
        "ssim": round(float(structural_similarity(b, a, data_range=1.0)), 4),
        "psnr": round(float(peak_signal_noise_ratio(b, a, data_range=1.0)), 2),
    }


def widened(psf: np.ndarray, factor: float) -> np.ndarray:
    """``psf`` stretched ``factor`` times along every axis (a PSF known only roughly)."""
    return checked_psf(np.clip(ndimage.zoom(psf, factor, order=1), 0, None))


def flowdec_case() -> dict:
    wheel = fetch_wheel("flowdec", "1.1.0")
    read = {k: read_member(wheel, f"flowdec/datasets/bars-25pct/{k}.tif") for k in ("data", "kernel", "actual")}
    psf = checked_psf(read["kernel"])
    return {"name": "flowdec-bars", "blurred": read["data"], "truth": read["actual"], "psf": psf}


def simulated_cases() -> list[dict]:
    cases = []
    for name, psf in SIM_PSFS.items():
        for stain, seed in SIM_SEEDS.items():
            sample = simulate_lightsheet(SIM_SHAPE, LIGHTSHEET_VOXEL_SIZE, seed, stain=stain)
            rng = np.random.default_rng(seed)
            counts = sample.sharp - CAMERA_OFFSET
            expected = np.clip(mirrored_convolution(counts, psf), 0, None)
            blurred = rng.poisson(expected) + rng.normal(CAMERA_OFFSET, 2.0, expected.shape)
            cases.append(
                {"name": f"{name}-{stain}", "blurred": blurred.astype(np.float32), "truth": sample.sharp, "psf": psf}
            )
    return cases


def one_case(case: dict, models: dict, iterations, tvs=(TV,)) -> dict:
    blurred, truth, psf = case["blurred"], case["truth"], case["psf"]
    row = {"name": case["name"], "shape": list(blurred.shape), "psf_shape": list(psf.shape)}
    row["input"] = scores(blurred, truth, blurred)
    for n in iterations:
        row[f"rl_{n}"] = scores(deconvolve(blurred[None], psf, n)[0], truth, blurred)
        for tv in tvs:
            key = f"rl_{n}_tv" if tv == TV else f"rl_{n}_tv{tv:g}"
            row[key] = scores(deconvolve(blurred[None], psf, n, tv)[0], truth, blurred)
        row[f"rl_{n}_psf_30pct_wide"] = scores(deconvolve(blurred[None], widened(psf, TOO_WIDE), n)[0], truth, blurred)
    for label, (model, card) in models.items():  # every case is on the model's grid
        given = {label: psf, f"{label}_psf_30pct_wide": widened(psf, TOO_WIDE)} if card.deconvolution else {label: None}
        for name, known in given.items():
            read = deblur_input(card, blurred[None], known)
            row[name] = scores(run_model(model, card, read, card.voxel_size)[0], truth, blurred)
    return row


def table(rows: list[dict]) -> None:
    methods = [k for k in rows[0] if isinstance(rows[0][k], dict)]
    print(f"{'case':<26}" + "".join(f"{m:>24}" for m in methods) + "   (SSIM / PSNR dB)")
    for row in rows:
        print(f"{row['name']:<26}" + "".join(f"{row[m]['ssim']:>15.3f} / {row[m]['psnr']:5.1f}" for m in methods))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--iterations", type=int, nargs="+", default=[20, 100], help="Richardson-Lucy iterations")
    parser.add_argument("--tv", type=float, nargs="+", default=[TV], help=f"RL's total variation ({TV})")
    parser.add_argument("--models", nargs="+", default=[MODEL], help=f"the learned models to compare ({MODEL})")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    labels = ["model"] if len(args.models) == 1 else [Path(m).stem for m in args.models]
    models = {label: load_model(m) for label, m in zip(labels, args.models)}
    rows = [one_case(case, models, args.iterations, args.tv) for case in [flowdec_case(), *simulated_cases()]]
    table(rows)
    if args.json:
        write_json(args.json, {"models": args.models, "environment": environment(args.threads), "cases": rows})


if __name__ == "__main__":
    main()
