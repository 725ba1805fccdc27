"""The bundled models against baselines: same training volumes, same steps, same held-out volumes.

    python benchmarks/baselines.py RECIPE --bright4b MODEL.safetensors --json OUT.json [--threads 2]

For the recipe (``organelles-classic``, ``deblur-classic``, ``stain-classic``; see ``bright4b train``):

- ``unet``: a MONAI UNet of about the Bright-4B nano model's size (20-40-80-160 channels,
  one residual unit per level, anisotropic first stride) trained by the same trainer,
  sampler, loss, learning-rate schedule and step count as the Bright-4B model (its card
  says how many); a residual on the input for deblurring, the mean of its logit map for
  stain classification. Scored by the recipe's held-out evaluation
  through the same tiling engine.
- ``random_forest`` (organelles only): what a user of painted-label tools would reach
  for, a random forest (100 trees, depth 16) on scikit-image multiscale features
  (intensity, edges, texture over sigma 1-8 voxels), fitted on class-balanced voxels from
  the same training volumes at the same voxel size.
- ``bright4b``: the given model's own held-out metrics, from its card.

Prints a table and writes JSON ``{"recipe", "steps", "environment", "models": {name:
{"parameters", "train_s", "held_out"}}}``.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch
from _common import environment, write_json
from torch import nn

UNET_CHANNELS = (20, 40, 80, 160)
UNET_STRIDES = ((1, 2, 2), (2, 2, 2), (2, 2, 2))
FOREST_VOXELS_PER_CLASS = 20000
FOREST_THRESHOLD = 0.5  # the forest's class-balanced probabilities


class PaddedUNet(nn.Module):
    """MONAI UNet on inputs mirror-padded to its stride multiple, cropped back; a residual on
    the input for ``deblur``, the spatial mean of the logits for ``classify``."""

    def __init__(self, in_channels: int, out_channels: int, task: str):
        from monai.networks.nets import UNet

        super().__init__()
        self.task = task
        self.net = UNet(3, in_channels, out_channels, UNET_CHANNELS, UNET_STRIDES, num_res_units=1)
        self.multiple = tuple(int(np.prod(s)) for s in zip(*UNET_STRIDES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from napari_bright4b.nn.padding import crop_to, pad_to_multiple

        out = crop_to(self.net(pad_to_multiple(x, self.multiple)), x.shape[2:])
        if self.task == "deblur":
            return x + out
        if self.task == "classify":
            return out.mean(dim=(2, 3, 4))
        return out


def train_unet(recipe, examples, steps: int) -> tuple[PaddedUNet, float]:
    from napari_bright4b.training.trainer import TrainSettings, train

    card = recipe.card()
    torch.manual_seed(0)
    model = PaddedUNet(card.config.in_channels, card.head.channels, card.head.task)
    sampler = recipe.sampler(examples, np.random.default_rng(0))
    settings = TrainSettings(steps=steps, learning_rate=recipe.learning_rate)
    result = train(model, card, sampler, settings, out=None)
    return model.eval(), result.seconds


def forest_features(image: np.ndarray) -> np.ndarray:
    """``(Z, Y, X)`` -> ``(Z, Y, X, F)`` scikit-image multiscale features (float32)."""
    from skimage.feature import multiscale_basic_features

    return multiscale_basic_features(image, sigma_min=1, sigma_max=8, num_sigma=4).astype(np.float32)


def train_forest(examples, seed: int = 0):
    """A random forest on class-balanced voxels (per structure: inside vs outside)."""
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(seed)
    rows, labels = [], []
    for example in examples:
        features = forest_features(example.image[0]).reshape(example.image[0].size, -1)
        targets = example.target.reshape(len(example.target), -1)
        picks = [
            rng.choice(np.flatnonzero(t), min(FOREST_VOXELS_PER_CLASS // len(examples), int(t.sum())), False)
            for t in targets
            if t.any()
        ]
        picks.append(rng.choice(targets.shape[1], FOREST_VOXELS_PER_CLASS // len(examples), False))
        chosen = np.concatenate(picks)
        rows.append(features[chosen])
        labels.append(targets[:, chosen].T)
    forest = RandomForestClassifier(n_estimators=100, max_depth=16, n_jobs=-1, random_state=seed)
    return forest.fit(np.concatenate(rows), np.concatenate(labels))


def forest_metrics(forest, recipe) -> dict:
    """The organelles recipe's held-out metrics for the forest, at the model's voxel size."""
    from napari_bright4b.analysis.metrics import segmentation_metrics
    from napari_bright4b.data.synthetic.brightfield import ALLEN_VOXEL_SIZE, simulate_brightfield
    from napari_bright4b.inference.resample import resize
    from napari_bright4b.training.recipes.organelles import SIMULATED_SHAPE, mean_scores

    runs = []
    for seed in recipe.held_out_seeds:
        image = recipe.example(seed).image[0]
        features = forest_features(image).reshape(image.size, -1)
        probabilities = np.stack([p[:, 1] for p in forest.predict_proba(features)]).reshape(-1, *image.shape)
        probabilities = resize(probabilities.astype(np.float32), SIMULATED_SHAPE)
        truth = simulate_brightfield(SIMULATED_SHAPE, ALLEN_VOXEL_SIZE, seed).masks()
        names = recipe.card().head.class_names
        runs.append(
            {
                n: segmentation_metrics(probabilities[k] >= FOREST_THRESHOLD, truth[k] > 0, ALLEN_VOXEL_SIZE)
                for k, n in enumerate(names)
            }
        )
    return mean_scores(runs, recipe.held_out_seeds, {n: FOREST_THRESHOLD for n in recipe.card().head.class_names})


def headline(held_out: dict) -> str:
    if "structures" in held_out:
        return "  ".join(f"{n} Dice {s['dice']:.3f}" for n, s in held_out["structures"].items())
    if "ssim_gain" in held_out:
        return f"SSIM {held_out['ssim_before']:.3f} -> {held_out['ssim_after']:.3f} (gain {held_out['ssim_gain']:+.3f})"
    return f"accuracy {held_out['accuracy']:.3f}  macro-F1 {held_out['macro_f1']:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipe", choices=("organelles-classic", "deblur-classic", "stain-classic"))
    parser.add_argument("--bright4b", required=True, help="the trained Bright-4B model of this recipe")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from napari_bright4b.models.checkpoint import load_checkpoint
    from napari_bright4b.training.recipes import RECIPES

    recipe = RECIPES[args.recipe]
    ours, card = load_checkpoint(args.bright4b)[:2]
    steps = card.provenance["steps"]
    models = {
        "bright4b": {
            "parameters": sum(p.numel() for p in ours.parameters()),
            "train_s": card.provenance["train_seconds"],
            "held_out": card.metrics,
        }
    }
    examples = recipe.examples(recipe.train_seeds)
    unet, seconds = train_unet(recipe, examples, steps)
    unet_card = recipe.card()
    if recipe.calibrate:  # thresholds chosen on training volumes, as for the Bright-4B model
        unet_card = dataclasses.replace(unet_card, thresholds=recipe.calibrate(unet, unet_card))
    models["unet"] = {
        "parameters": sum(p.numel() for p in unet.parameters()),
        "train_s": round(seconds, 1),
        "held_out": recipe.evaluate(unet, unet_card, recipe.held_out_seeds),
    }
    if args.recipe == "organelles-classic":
        start = time.perf_counter()
        forest = train_forest(examples)
        models["random_forest"] = {
            "parameters": None,
            "train_s": round(time.perf_counter() - start, 1),
            "held_out": forest_metrics(forest, recipe),
        }
    print(f"{'model':<15}{'parameters':>12}{'train s':>9}  held-out")
    for name, m in models.items():
        print(f"{name:<15}{m['parameters'] or '-':>12}{m['train_s']:>9}  {headline(m['held_out'])}")
    write_json(
        args.json, {"recipe": args.recipe, "steps": steps, "environment": environment(args.threads), "models": models}
    )


if __name__ == "__main__":
    main()
