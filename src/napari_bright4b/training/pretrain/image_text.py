"""Image-text alignment, the light-sheet foundation model's language objectives.

Each patch's pooled last-layer token state, projected, is pulled towards the embedding of
its volume's caption (:mod:`.captions`) by two terms, as in the paper: a cosine alignment,
``mean (1 - cos(image, text))``, and a CLIP-style symmetric InfoNCE over the batch with a
learned temperature, in which every patch of the same volume counts as a positive.

The caption encoder is a small one trained with the model: a mean of learned embeddings of
the caption's hashed words, put on the unit sphere. We chose it over the packaged MiniLM
because our captions are short, built from a handful of metadata fields, and a bag of
words separates them as well; it needs no download, no extra dependency and adds
``BUCKETS x d`` weights (0.26 M for ``nano``) that live in the training state only.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from ...models.bright4b import Bright4B
from ...nn.hypersphere import l2norm
from .captions import BUCKETS, caption_words
from .ema_teacher import last_token_states

WEIGHT = 1.0
SEED = 0
MAX_SCALE = 100.0  # CLIP's cap on the learned inverse temperature

Loss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def image_text_loss(
    image: torch.Tensor, text: torch.Tensor, captions: torch.Tensor, scale: torch.Tensor
) -> torch.Tensor:
    """Cosine alignment plus symmetric InfoNCE of unit ``image`` and ``text`` embeddings
    ``(B, d)``, row ``i`` of each with caption ``captions[i]``; pairs with the same caption
    are all positives. ``scale``: the inverse temperature. Zero alignment when they match."""
    alignment = (1 - (image * text).sum(-1)).mean()
    logits = scale * image @ text.T
    positives = (captions[:, None] == captions[None, :]).float()
    targets = positives / positives.sum(1, keepdim=True)
    contrastive = (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets.T)) / 2
    return alignment + contrastive


class CaptionEncoder(nn.Module):
    """Caption texts -> unit embeddings ``(N, dim)``: the mean of learned word embeddings."""

    def __init__(self, captions: Sequence[str], dim: int):
        super().__init__()
        words = [caption_words(c) or [0] for c in captions]
        self.embedding = nn.EmbeddingBag(BUCKETS, dim, mode="mean")
        nn.init.normal_(self.embedding.weight, std=dim**-0.5)
        starts = [0, *itertools.accumulate(len(w) for w in words)][:-1]
        self.register_buffer("words", torch.tensor([w for caption in words for w in caption]), persistent=False)
        self.register_buffer("offsets", torch.tensor(starts), persistent=False)

    def forward(self) -> torch.Tensor:
        return l2norm(self.embedding(self.words, self.offsets))


class ImageTextObjective(nn.Module):
    """The trainer's loss: ``base(output, image, target)`` plus ``weight`` times
    :func:`image_text_loss` of the student's pooled last-layer tokens against the captions
    of the patches' volumes (``target``'s last channel holds each patch's volume index;
    ``captions`` has one per volume). Its own weights (caption encoder, image projection,
    temperature) train with the model. Under torchrun the image embeddings of every process
    are gathered, so the contrast runs over the global batch, as on one process."""

    def __init__(self, student: Bright4B, captions: Sequence[str], base: Loss, weight: float = WEIGHT):
        super().__init__()
        dim = student.config.dim
        unique = sorted(set(captions))
        self.register_buffer("caption_of", torch.tensor([unique.index(c) for c in captions]), persistent=False)
        self.captions = CaptionEncoder(unique, dim)
        self.projection = nn.Linear(dim, dim, bias=False)
        nn.init.eye_(self.projection.weight)
        self.log_scale = nn.Parameter(torch.full((1,), math.log(1 / 0.07)))
        self.base, self.weight = base, weight
        self.tokens: list[torch.Tensor] = []  # the student's last token states, set by a hook

    def forward(self, output: torch.Tensor, image: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        sources = target[:, -1].flatten(1).amax(1).round().long()  # padding is 0, volume 0 too
        with torch.autocast(output.device.type, enabled=False):  # logits up to 100: float32
            pooled = l2norm(self.projection(l2norm(self.tokens[0].float().mean(1))))
            pooled, sources = _gathered(pooled), _gathered(sources)
            captions = self.caption_of[sources]
            scale = self.log_scale.exp().clamp(max=MAX_SCALE)
            language = image_text_loss(pooled, self.captions()[captions], captions, scale)
        return self.base(output, image, target) + self.weight * language


def _gathered(rows: torch.Tensor) -> torch.Tensor:
    """``rows (b, ...)`` of every process in rank order under torchrun (gradients flow back to
    each process's own rows), else ``rows``."""
    if not (dist.is_available() and dist.is_initialized()):
        return rows
    if rows.requires_grad:
        from torch.distributed.nn.functional import all_gather

        return torch.cat(all_gather(rows))
    parts = [torch.empty_like(rows) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, rows)
    return torch.cat(parts)


@contextmanager
def image_text_objective(student: Bright4B, captions: Sequence[str], base: Loss) -> Iterator[ImageTextObjective]:
    """An :class:`ImageTextObjective` for ``student``, on its device, fed by a hook on its last
    block; its weights start the same in every run and process (seeded apart from torch's
    global generator)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        objective = ImageTextObjective(student, captions, base).to(next(student.parameters()).device)
    with last_token_states(student) as kept:
        objective.tokens = kept
        yield objective
