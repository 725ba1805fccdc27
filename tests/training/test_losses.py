import pytest
import torch

from napari_bright4b.training.losses import deblur_loss, gaussian_ssim, root_l1, segmentation_loss, soft_dice_loss
from napari_bright4b.training.schedule import warmup_cosine


@pytest.mark.parametrize("activation", ["sigmoid", "softmax"])
def test_segmentation_loss_ignores_voxels_outside_the_mask(activation):
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 4, 8, 8)
    if activation == "sigmoid":
        target = (torch.rand(2, 3, 4, 8, 8) > 0.5).float()
    else:
        target = torch.randint(0, 3, (2, 1, 4, 8, 8))
    mask = torch.zeros(2, 1, 4, 8, 8)
    mask[:, :, :2] = 1
    changed = target.clone()
    changed[:, :, 2:] = 1 - changed[:, :, 2:] if activation == "sigmoid" else (changed[:, :, 2:] + 1) % 3
    a = segmentation_loss(logits, target, activation, mask)
    b = segmentation_loss(logits, changed, activation, mask)
    assert a == pytest.approx(float(b), abs=1e-6)
    assert segmentation_loss(logits, changed, activation) != pytest.approx(float(a), abs=1e-3)


def test_dice_loss_is_zero_for_a_perfect_prediction_and_gradients_flow():
    target = (torch.rand(1, 2, 4, 8, 8) > 0.5).float()
    assert soft_dice_loss(target, target) == pytest.approx(0.0, abs=1e-6)
    logits = torch.zeros(1, 2, 4, 8, 8, requires_grad=True)
    segmentation_loss(logits, target, "sigmoid").backward()
    assert logits.grad.abs().sum() > 0


def test_deblur_loss_is_zero_only_for_the_sharp_image():
    sharp = torch.rand(1, 1, 8, 16, 16)
    assert deblur_loss(sharp, sharp) == pytest.approx(0.0, abs=1e-5)
    assert deblur_loss(sharp + 0.1 * torch.randn_like(sharp), sharp) > 0.01


def test_the_root_term_weighs_a_haze_on_a_dark_field_more_than_the_same_error_on_a_bright_one():
    dark = torch.zeros(1, 1, 8, 8, 8)
    dark[..., 4, 4, 4] = 1.0
    assert root_l1(dark, dark) == 0 and deblur_loss(dark, dark, root_weight=1.0) == pytest.approx(0.0, abs=1e-5)
    haze = root_l1(dark + 0.01, dark)
    assert haze > 5 * torch.nn.functional.l1_loss(dark + 0.01, dark)  # plain L1 barely sees it
    bright = torch.ones(1, 1, 8, 8, 8)
    assert root_l1(bright + 0.01, bright) < 0.1 * haze
    with_root = deblur_loss(dark + 0.01, dark, root_weight=1.0)
    assert with_root == pytest.approx(float(deblur_loss(dark + 0.01, dark) + haze), rel=1e-5)


def test_warmup_then_cosine():
    assert warmup_cosine(0, 10, 0.0) == pytest.approx(0.1)
    assert warmup_cosine(9, 10, 0.0) == pytest.approx(1.0)
    assert warmup_cosine(10, 10, 0.0) == pytest.approx(1.0)
    assert warmup_cosine(50, 10, 1.0, floor=0.05) == pytest.approx(0.05)
    assert warmup_cosine(50, 10, 7.0, floor=0.05) == pytest.approx(0.05)
    values = [warmup_cosine(20, 10, p / 50) for p in range(51)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_separable_ssim_equals_monai_ssim_with_its_full_3d_kernel():
    from monai.losses import SSIMLoss

    generator = torch.Generator().manual_seed(0)
    sharp = torch.rand(2, 1, 12, 16, 16, generator=generator)
    restored = sharp + 0.2 * torch.randn(sharp.shape, generator=generator)
    data_range = float(sharp.max() - sharp.min())
    monai = 1 - SSIMLoss(spatial_dims=3, data_range=data_range, win_size=7)(restored, sharp)
    assert gaussian_ssim(restored, sharp, data_range) == pytest.approx(float(monai), abs=1e-5)
    assert gaussian_ssim(sharp, sharp, data_range) == pytest.approx(1.0, abs=1e-6)
