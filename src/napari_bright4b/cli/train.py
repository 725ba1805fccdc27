"""``bright4b train RECIPE -o OUT.safetensors``: train a bundled model from its committed recipe, or
a model on your own data (``folder --data DIR``; :mod:`..training.recipes.folder`)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from ..errors import BadInputError
from ..models.card import MODALITIES
from .options import add_zyx, positive_float, positive_int, safetensors_output

# the recipes of training/recipes/catalog.py and the recipe each goes on from (named here so
# that the CLI starts without torch)
RECIPE_NAMES = ("organelles-classic", "organelles-broad", "organelles", "organelles-randomized")
RECIPE_NAMES += ("deblur-classic", "deblur", "deblur-randomized", "deblur-rl")
RECIPE_NAMES += ("stain-classic", "stain-broad", "stain", "stain-randomized", "folder")
STARTS_FROM = {
    "organelles-broad": "organelles-classic",
    "organelles": "organelles-broad",
    "deblur": "deblur-classic",
    "deblur-rl": "deblur",
    "stain-broad": "stain-classic",
    "stain": "stain-broad",
}


def add_parsers(sub) -> None:
    parser = sub.add_parser("train", help="train a model from a recipe (the bundled models are made this way)")
    parser.add_argument(
        "recipe", choices=RECIPE_NAMES, help="a bundled model's recipe, or 'folder' for your own data (--data)"
    )
    parser.add_argument("-o", "--output", required=True, help="the model to write (.safetensors)")
    parser.add_argument("--data", help="folder: DIR with images/ and labels/ TIFFs of the same names")
    parser.add_argument("--classes", help="folder: the class names of label values 1, 2, ... (comma-separated)")
    add_zyx(parser, "--voxel-size", positive_float, "folder: um (default: from the TIFFs)")
    parser.add_argument("--modality", choices=MODALITIES, default="brightfield", help="folder: the images' modality")
    parser.add_argument("--steps", type=positive_int, help="optimizer steps (default: the recipe's)")
    parser.add_argument("--time-budget", type=positive_float, help="stop after this many seconds")
    parser.add_argument("--batch-size", type=positive_int, help="patches per step (default: the recipe's, mostly 2)")
    parser.add_argument("--learning-rate", type=positive_float, help="peak learning rate (default: the recipe's)")
    parser.add_argument("--checkpoint-every", type=positive_int, default=250, help="steps between checkpoints")
    parser.add_argument("--volumes", type=positive_int, help="simulated training volumes (default: the recipe's)")
    parser.add_argument("--held-out", type=positive_int, help="held-out volumes to score (default: the recipe's)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
    parser.add_argument("--resume", action="store_true", help="continue from OUTPUT and its .state file")
    parser.add_argument("--init", help="start from this checkpoint's backbone (e.g. from `bright4b pretrain`)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(run=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    out = _checked_output(args)

    import numpy as np
    import torch

    from ..models.checkpoint import save_checkpoint
    from ..training.trainer import TrainSettings, train

    recipe = _recipe(args, out)
    card = recipe.card()
    settings = TrainSettings(
        steps=args.steps or recipe.steps,
        batch_size=args.batch_size or recipe.batch_size,
        learning_rate=args.learning_rate or recipe.learning_rate,
        checkpoint_every=args.checkpoint_every,
        time_budget_s=args.time_budget,
        seed=args.seed,
    )
    torch.manual_seed(args.seed)
    model, card = _starting_model(args, card, out)
    seeds = recipe.train_seeds[: args.volumes] if args.volumes else recipe.train_seeds
    started = time.perf_counter()
    say = (lambda message: None) if args.json else (lambda message: print(message, file=sys.stderr))
    say(f"preparing {len(seeds)} training volumes ...")
    examples = recipe.examples(seeds)
    prepare_s = time.perf_counter() - started
    sampler = recipe.sampler(examples, np.random.default_rng(args.seed))
    loss = recipe.routing_loss(model, card, settings.steps)
    with _StepBar(settings.steps, enabled=not args.json and sys.stderr.isatty()) as progress:
        result = train(model, card, sampler, settings, out, resume=args.resume, progress=progress, loss=loss)
    if loss is not None:
        loss.remove()
    tick = time.perf_counter()
    trained_card, held_out = _calibrate_and_score(model, recipe, out, args.held_out, say)
    evaluate_s = time.perf_counter() - tick
    save_checkpoint(model, dataclasses.replace(trained_card, metrics=held_out), out)
    summary = {
        "model": str(out),
        "steps": result.steps,
        "prepare_s": round(prepare_s, 1),
        "train_s": round(result.seconds, 1),
        "evaluate_s": round(evaluate_s, 1),
        "total_s": round(time.perf_counter() - started, 1),
        "final_loss": result.losses[-1][1] if result.losses else None,
        "held_out": held_out,
    }
    print(json.dumps(summary if args.json else held_out, indent=1))
    return 0


def _checked_output(args: argparse.Namespace) -> Path:
    """The model to write, after refusing arguments that do not go together (before torch loads)."""
    out = safetensors_output(args.output, "the output")
    if not out.parent.is_dir():
        raise BadInputError(f"the folder {out.parent} does not exist")
    if args.resume and not out.is_file():
        raise BadInputError(f"--resume needs an existing {out.name}; train without --resume first")
    first = STARTS_FROM.get(args.recipe)
    if first and not (args.init or args.resume):
        raise BadInputError(
            f"the {args.recipe} recipe goes on from a {first} model: run `bright4b train {first} -o {first}"
            f".safetensors`, then this command with --init {first}.safetensors"
        )
    if (args.recipe == "folder") != (args.data is not None):
        raise BadInputError("--data DIR goes with the 'folder' recipe, and 'folder' needs --data DIR")
    if args.recipe == "folder" and not args.classes:
        raise BadInputError("name the classes of label values 1, 2, ... with --classes, e.g. --classes nuclei")
    return out


def _recipe(args: argparse.Namespace, out: Path):
    """The bundled recipe ``args.recipe``, or a recipe for the labelled images in ``--data``."""
    from ..training.recipes import RECIPES

    if args.recipe != "folder":
        return RECIPES[args.recipe]
    from ..training.recipes.folder import folder_recipe

    classes = [c.strip() for c in args.classes.split(",")]
    return folder_recipe(args.data, classes, out.stem, args.voxel_size, args.modality)


def _starting_model(args: argparse.Namespace, card, out: Path):
    """``(model, card)`` to train: the checkpoint at ``out`` with ``--resume``, else a new model,
    its backbone from ``--init`` if given (recorded in the card's provenance)."""
    from ..models.checkpoint import build_model, load_backbone, load_checkpoint

    if args.init and args.resume:
        raise BadInputError("--init starts a new training; --resume continues one: give one of them")
    model = load_checkpoint(out)[0].train() if args.resume else build_model(card)
    if args.init:
        load_backbone(model, card, args.init)
        card = dataclasses.replace(card, provenance={**card.provenance, "init": str(args.init)})
    return model, card


def _calibrate_and_score(model, recipe, out: Path, held_out: int | None, say) -> tuple:
    """``(card, metrics)``: the card of the model trained at ``out``, with per-class thresholds
    if the recipe calibrates them, and its metrics on the first ``held_out`` held-out volumes."""
    from ..models.checkpoint import load_checkpoint

    trained_card = load_checkpoint(out)[1]
    if recipe.calibrate:
        say("choosing per-class thresholds on training volumes ...")
        trained_card = dataclasses.replace(trained_card, thresholds=recipe.calibrate(model, trained_card))
    say("evaluating on the held-out volumes ...")
    return trained_card, recipe.evaluate(model, trained_card, recipe.held_out_seeds[:held_out])


class _StepBar:
    """``progress(step, total, loss)`` drawing a tqdm bar of ``steps`` on stderr when ``enabled``;
    a context manager that closes it."""

    def __init__(self, steps: int, enabled: bool):
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=steps, desc="training", unit="step", file=sys.stderr)

    def __call__(self, step: int, total: int, loss: float) -> None:
        if self.bar is not None:
            self.bar.update(step - self.bar.n)
            self.bar.set_postfix(loss=f"{loss:.4f}")

    def __enter__(self) -> _StepBar:
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()
