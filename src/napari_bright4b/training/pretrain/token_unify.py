"""TokenUnify's three token-prediction tasks, as masks on the token lattice, and its curriculum.

Each sample of a batch is given one task; its token-sized blocks are hidden (zeroed in the
input) and some of the hidden ones scored (the reconstruction loss counts their voxels):

- ``random``: a random share of the blocks hidden, all scored: masked reconstruction;
- ``next``: every block after a random cut along the raster path over the blocks (x
  fastest, then y, then z) hidden, the first of them scored: the next token from all
  before it;
- ``next_all``: the same cut, every hidden block scored: all future tokens at once.

Bright-4B's attention is bidirectional, so a sample gives one cut (one next-token target),
where TokenUnify's causal sequence model scores every position of a sequence at once.

The curriculum is the paper's alternating protocol: each sample's task is drawn from
weights that move from local to global over the run, a primary task at 0.73 and the others
at 0.18 and 0.09 (the paper's shares): random first, next from a third of the schedule,
next-all from two thirds (our thresholds; the paper's are not in our copy). The run's
progress is the learning-rate schedule's (steps, or a time budget), so a resumed run picks
the curriculum up where it stopped.
"""

from __future__ import annotations

import numpy as np

TASKS = ("random", "next", "next_all")
# Task weights (random, next, next_all) in each third of the run.
CURRICULUM = ((0.73, 0.18, 0.09), (0.18, 0.73, 0.09), (0.09, 0.18, 0.73))


def curriculum_weights(progress: float) -> tuple[float, float, float]:
    """The task weights at ``progress`` (the share of the run done, in [0, 1])."""
    return CURRICULUM[min(2, int(3 * max(0.0, progress)))]


def task_cells(task: str, count: int, ratio: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Hidden and scored flags ``(count,)`` (float32, 1 = yes) of one sample's ``count`` blocks
    in raster order for ``task``; ``ratio`` is the share hidden by ``random``."""
    if task not in TASKS:
        raise ValueError(f"unknown TokenUnify task {task!r}; use one of {', '.join(TASKS)}")
    hidden = np.zeros(count, np.float32)
    if task == "random":
        hidden[rng.choice(count, round(ratio * count), replace=False)] = 1.0
        return hidden, hidden.copy()
    cut = int(rng.integers(1, count))  # blocks [0, cut) seen, at least one of each
    hidden[cut:] = 1.0
    if task == "next_all":
        return hidden, hidden.copy()
    scored = np.zeros(count, np.float32)
    scored[cut] = 1.0
    return hidden, scored
