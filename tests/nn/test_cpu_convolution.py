import copy

import torch
from torch import nn

from napari_bright4b.nn.cpu_convolution import OneDnnConv3d, StrideTransposedConv3d, use_onednn_convolutions


def narrow_decoder_like() -> nn.Sequential:
    """Few channels at high resolution: the shapes PyTorch would send to im2col."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv3d(2, 4, 3, padding=1),
        nn.ConvTranspose3d(4, 5, (1, 2, 2), stride=(1, 2, 2)),
        nn.ConvTranspose3d(5, 4, (2, 2, 2), stride=(2, 2, 2), bias=False),
        nn.ConvTranspose3d(4, 4, 3, stride=1, padding=1),  # overlapping: left as it is
        nn.Conv3d(4, 3, (1, 3, 3), padding=(0, 1, 1), bias=False),
    )


def test_same_outputs_and_gradients_as_pytorch_convolutions():
    reference = narrow_decoder_like()
    fast = use_onednn_convolutions(copy.deepcopy(reference))
    x = torch.randn(1, 2, 5, 12, 9)
    grad = torch.randn(1, 3, 10, 48, 36)
    outputs = []
    for model in (reference, fast):
        out = model(x)
        params = list(model.parameters())
        outputs.append((out, torch.autograd.grad(out, params, grad)))
    (ref_out, ref_grads), (fast_out, fast_grads) = outputs
    torch.testing.assert_close(fast_out, ref_out, atol=1e-5, rtol=1e-5)
    for a, b in zip(fast_grads, ref_grads):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_only_plain_and_non_overlapping_convolutions_are_converted_and_state_dict_keys_stay():
    model = narrow_decoder_like()
    keys = list(model.state_dict())
    use_onednn_convolutions(model)
    assert [type(m) for m in model] == [
        OneDnnConv3d,
        StrideTransposedConv3d,
        StrideTransposedConv3d,
        nn.ConvTranspose3d,
        OneDnnConv3d,
    ]
    assert list(model.state_dict()) == keys


def test_falls_back_for_string_padding_and_float64():
    conv = use_onednn_convolutions(nn.Sequential(nn.Conv3d(1, 2, 3, padding="same")))[0]
    x = torch.randn(1, 1, 4, 6, 6)
    torch.testing.assert_close(conv(x), nn.functional.conv3d(x, conv.weight, conv.bias, padding="same"))
    conv64 = use_onednn_convolutions(nn.Sequential(nn.Conv3d(1, 2, 3, padding=1).double()))[0]
    assert conv64(x.double()).dtype == torch.float64
