"""Where the mitochondria signal is lost: one network, two inputs.

A MONAI UNet (16-128 channels) learns the mitochondria of 16 simulated colonies
(``simulate_brightfield`` seeds 1000-1015, at the organelle model's voxel size) from

- ``image``: the brightfield stack, as the organelle model sees it;
- ``index``: the noise-free refractive-index map the stack is imaged from (perfect
  optics, no noise), which no microscope gives;

with the same patches, loss (Dice + BCE) and steps, and is scored by Dice at the best
cut on the held-out colonies 9000-9002 at the simulation's voxel size.

    OMP_NUM_THREADS=2 python benchmarks/mitochondria_probe.py [--steps 2800] [--json OUT.json]

Prints a table and writes JSON ``{"steps", "environment", "inputs": {input: {"dice",
"cuts", "mean", "train_s"}}}``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from _common import environment, write_json

TRAIN_SEEDS = tuple(range(1000, 1016))
HELD_OUT_SEEDS = (9000, 9001, 9002)
PATCH = (16, 64, 64)
MITOCHONDRIA = 2  # channel of BrightfieldSample.masks()


def volume(seed: int, source: str):
    """``(input (Z', Y', X') at the model's voxel size, mask on that grid, the sample)``."""
    from napari_bright4b.data.synthetic.brightfield import ALLEN_VOXEL_SIZE, index_contrast, simulate_brightfield
    from napari_bright4b.data.synthetic.colony import simulate_colony
    from napari_bright4b.inference.normalize import percentile_normalize
    from napari_bright4b.inference.resample import resize, target_shape
    from napari_bright4b.training.recipes.organelles import ORGANELLES_VOXEL_SIZE, SIMULATED_SHAPE

    sample = simulate_brightfield(SIMULATED_SHAPE, ALLEN_VOXEL_SIZE, seed)
    if source == "index":  # the same draws as simulate_brightfield: the colony, then its indices
        rng = np.random.default_rng(seed)
        signal = index_contrast(simulate_colony(rng, SIMULATED_SHAPE, ALLEN_VOXEL_SIZE), rng)[0]
    else:
        signal = sample.image
    grid = target_shape(SIMULATED_SHAPE, ALLEN_VOXEL_SIZE, ORGANELLES_VOXEL_SIZE)
    image = resize(percentile_normalize(signal[None]), grid).astype(np.float32)
    mask = resize(sample.masks()[MITOCHONDRIA : MITOCHONDRIA + 1].astype(np.float32), grid) >= 0.5
    return image, mask.astype(np.uint8), sample


def probe(source: str, steps: int) -> dict:
    from monai.losses import DiceCELoss
    from monai.networks.nets import UNet

    from napari_bright4b.analysis.metrics import overlap_metrics
    from napari_bright4b.inference.resample import resize
    from napari_bright4b.training.patches import Example, PatchSampler
    from napari_bright4b.training.recipes.organelles import best_cuts

    torch.manual_seed(0)
    examples = [Example(*volume(seed, source)[:2]) for seed in TRAIN_SEEDS]
    sampler = PatchSampler(examples, PATCH, np.random.default_rng(0), flip_z=False)
    net = UNet(3, 1, 1, (16, 32, 64, 128), (1, 2, 2), num_res_units=1)
    optimizer = torch.optim.AdamW(net.parameters(), 2e-3)
    loss = DiceCELoss(sigmoid=True)
    started = time.perf_counter()
    for _ in range(steps):
        image, target = sampler.batch(2)
        value = loss(net(image), target.float())
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
    train_s = time.perf_counter() - started
    net.eval()
    dice, cuts = [], []
    for seed in HELD_OUT_SEEDS:
        image, _, sample = volume(seed, source)
        z, y, x = (n // 4 * 4 for n in image.shape[1:])  # the UNet's stride multiple
        probabilities = np.zeros(image.shape, np.float32)
        with torch.no_grad():
            crop = torch.from_numpy(np.ascontiguousarray(image[None, :, :z, :y, :x]))
            probabilities[:, :z, :y, :x] = torch.sigmoid(net(crop))[0].numpy()
        truth = sample.masks()[MITOCHONDRIA : MITOCHONDRIA + 1] > 0
        found = resize(probabilities, truth.shape[1:])
        cut = best_cuts([(found, truth)], ["mitochondria"])["mitochondria"]
        dice.append(round(overlap_metrics(found[0] >= cut, truth[0])["dice"], 3))
        cuts.append(cut)
    return {"dice": dice, "cuts": cuts, "mean": round(float(np.mean(dice)), 3), "train_s": round(train_s, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2800)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    results = {source: probe(source, args.steps) for source in ("image", "index")}
    print(f"{'input':<8}{'train s':>9}  held-out Dice {HELD_OUT_SEEDS} (best cut)  mean")
    for source, row in results.items():
        print(f"{source:<8}{row['train_s']:>9.0f}  {' / '.join(f'{d:.3f}' for d in row['dice']):<34}{row['mean']:.3f}")
    write_json(args.json, {"steps": args.steps, "environment": environment(torch.get_num_threads()), "inputs": results})


if __name__ == "__main__":
    main()
