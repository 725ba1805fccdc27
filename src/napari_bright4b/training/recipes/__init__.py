"""How each bundled model is made, one command each (``bright4b train RECIPE``): the
recipes (:mod:`.catalog`), the organelle and light-sheet models' data and evaluation
(:mod:`.organelles`, :mod:`.lightsheet`), and the recipe for a folder of the user's own
image/label pairs (:mod:`.folder`)."""

from .catalog import RECIPES, Recipe

__all__ = ["RECIPES", "Recipe"]
