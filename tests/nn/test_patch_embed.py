import pytest
import torch

from napari_bright4b.nn.patch_embed import AnisotropicPatchEmbed


def test_lattice_is_d2_h16_w16_and_tokens_unit_norm():
    embed = AnisotropicPatchEmbed(in_channels=1, dim=24, patch=(2, 16, 16))
    tokens = embed(torch.randn(2, 1, 8, 32, 48))
    assert tokens.shape == (2, 4, 2, 3, 24)
    assert torch.allclose(tokens.norm(dim=-1), torch.ones(2, 4, 2, 3), atol=1e-5)


def test_anti_alias_is_depthwise_z_only_and_projection_bias_free():
    embed = AnisotropicPatchEmbed(in_channels=3, dim=8)
    assert embed.anti_alias.weight.shape == (3, 1, 2, 1, 1)
    assert embed.anti_alias.stride == (2, 1, 1) and embed.anti_alias.groups == 3
    assert embed.proj.bias is None
    # p_z is not in the token dimension: 16 * 16 * C inputs.
    assert embed.proj.in_features == 16 * 16 * 3


def test_z_box_filter_init_averages_slice_pairs():
    embed = AnisotropicPatchEmbed(in_channels=1, dim=8)
    x = torch.randn(1, 1, 4, 16, 16)
    averaged = 0.5 * (x[:, :, 0::2] + x[:, :, 1::2])
    assert torch.allclose(embed.anti_alias(x), averaged, atol=1e-6)


def test_rejects_shapes_that_are_not_patch_multiples():
    with pytest.raises(ValueError, match="multiple of the patch"):
        AnisotropicPatchEmbed(1, 8)(torch.randn(1, 1, 3, 16, 16))
