import pytest
import torch

from napari_bright4b.models.config import unetr_decoder_params
from napari_bright4b.nn.decoder import UnetrDecoder


@pytest.mark.parametrize("patch", [(2, 16, 16), (1, 16, 16)])
def test_decoder_undoes_the_anisotropic_patch(patch):
    decoder = UnetrDecoder(in_channels=1, dim=16, features=4, patch=patch)
    x = torch.randn(1, 1, 4 * patch[0], 32, 64)
    lattice = (4, 2, 4)
    taps = [torch.randn(1, 16, *lattice) for _ in range(4)]
    assert decoder(x, taps).shape == (1, 4, 4 * patch[0], 32, 64)
    assert sum(p.numel() for p in decoder.parameters()) == unetr_decoder_params(1, 16, 4, patch)


def test_decoder_rejects_patches_it_cannot_undo():
    with pytest.raises(ValueError, match="undoes patches"):
        UnetrDecoder(1, 16, 4, patch=(2, 8, 8))
