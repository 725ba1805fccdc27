"""A sigmoid base's classes become exclusive painted classes: parts of other classes win inside them."""

import torch

from napari_bright4b.models.card import ModelCard
from napari_bright4b.models.checkpoint import build_model
from napari_bright4b.models.config import HeadConfig
from napari_bright4b.models.presets import PRESETS
from napari_bright4b.training.finetune.adaptation import nested_parts, replace_head

NAMES = ("nuclei", "nucleoli", "mitochondria")


def test_a_class_inside_a_larger_one_is_its_part():
    probabilities = torch.zeros(2, 3, 4, 16, 16)
    probabilities[:, 0, :, 2:12, 2:12] = 0.9  # nuclei
    probabilities[:, 1, 1:3, 4:7, 4:7] = 0.8  # nucleoli, all inside nuclei
    probabilities[:, 2, :, 13:15, 0:16] = 0.7  # mitochondria, outside
    probabilities[:, 2, :, 11, 0:16] = 0.7  # ... and a little inside: 1/3 of their voxels
    assert nested_parts(probabilities, NAMES) == {"nucleoli": "nuclei"}
    assert nested_parts(probabilities[:, :1], NAMES[:1]) == {}


def head_logits(card, classes, parts, features):
    torch.manual_seed(0)
    model = build_model(card)
    before = model.head(features, None, None)
    replace_head(model, card, classes, parts)
    return before, model.head(features, None, None)


def test_a_part_starts_as_its_own_logit_plus_its_wholes():
    card = ModelCard("toy", PRESETS["nano"].config, HeadConfig("segment", NAMES, "sigmoid"), (1.0, 1.0, 1.0))
    features = torch.randn(1, card.config.decoder_features, 2, 4, 4)
    parts = {"nucleoli": "nuclei"}
    sigmoid, softmax = head_logits(card, ("background", "nuclei", "nucleoli"), parts, features)
    torch.testing.assert_close(softmax[:, 0], torch.zeros_like(softmax[:, 0]))
    torch.testing.assert_close(softmax[:, 1], sigmoid[:, 0])
    torch.testing.assert_close(softmax[:, 2], sigmoid[:, 1] + sigmoid[:, 0])
    # inside a nucleus (its logit > 0) the nucleolus wins wherever its own logit is positive
    inside = sigmoid[:, 0] > 0
    assert inside.any() and torch.equal((softmax.argmax(1) == 2)[inside], (sigmoid[:, 1] > 0)[inside])
    # a part whose whole is not painted keeps its own logit
    _, alone = head_logits(card, ("background", "nucleoli"), parts, features)
    torch.testing.assert_close(alone[:, 1], sigmoid[:, 1])
