"""The command line that makes a recipe's model, written into its card's provenance."""

from __future__ import annotations

# the bundled models trained in stages: each recipe and the recipe it goes on from
STARTS_FROM = {
    "organelles-broad": "organelles-classic",
    "organelles": "organelles-broad",
    "deblur": "deblur-classic",
    "deblur-rl": "deblur",
    "stain-broad": "stain-classic",
    "stain": "stain-broad",
}


def recipe_command(recipe: str, name: str, starts_from: str | None = None) -> str:
    """``bright4b train RECIPE -o NAME.safetensors``; for a recipe that goes on from another
    (``starts_from``), that recipe's command first and this one with ``--init`` its model."""
    if starts_from is None:
        return f"bright4b train {recipe} -o {name}.safetensors"
    first = f"bright4b-nano-{starts_from}"
    then = f"bright4b train {recipe} --init {first}.safetensors -o {name}.safetensors"
    return f"{recipe_command(starts_from, first, STARTS_FROM.get(starts_from))} && {then}"
