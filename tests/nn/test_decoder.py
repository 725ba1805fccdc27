import pytest
import torch

from napari_bright4b.models.config import unetr_decoder_params
from napari_bright4b.nn.decoder import STEMS, UnetrDecoder


@pytest.mark.parametrize("stem", STEMS)
@pytest.mark.parametrize("patch", [(2, 16, 16), (1, 16, 16)])
def test_decoder_undoes_the_anisotropic_patch(patch, stem):
    decoder = UnetrDecoder(in_channels=1, dim=16, features=4, patch=patch, stem=stem)
    x = torch.randn(1, 1, 4 * patch[0], 32, 64)
    lattice = (4, 2, 4)
    taps = [torch.randn(1, 16, *lattice) for _ in range(4)]
    assert decoder(decoder.stem(x), taps).shape == (1, 4, 4 * patch[0], 32, 64)
    assert sum(p.numel() for p in decoder.parameters()) == unetr_decoder_params(1, 16, 4, patch, stem)


def test_pyramid_stem_feeds_the_image_to_the_quarter_resolution_skip():
    """With every token tap zero, the gradient of a ``pyramid`` decoder's output still
    reaches every parameter of its quarter-resolution block: the image feeds that skip."""
    torch.manual_seed(0)
    decoder = UnetrDecoder(in_channels=1, dim=16, features=4, patch=(2, 16, 16), stem="pyramid")
    taps = [torch.zeros(1, 16, 2, 2, 2) for _ in range(4)]
    decoder(decoder.stem(torch.randn(1, 1, 4, 32, 32)), taps).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in decoder.quarter_resolution.parameters())


def test_decoder_rejects_patches_it_cannot_undo():
    with pytest.raises(ValueError, match="undoes patches"):
        UnetrDecoder(1, 16, 4, patch=(2, 8, 8))
