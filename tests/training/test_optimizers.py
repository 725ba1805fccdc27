"""The trainer's optimizers: the factored one keeps a sliver of AdamW's state, is exact on a
rank-one gradient and clips its update; a run with it resumes exactly, and a state written
by one optimizer is not resumed by another."""

import pytest
import torch

from napari_bright4b.errors import BadInputError
from napari_bright4b.models.checkpoint import build_model, load_checkpoint
from napari_bright4b.training.factored import FactoredRMS
from napari_bright4b.training.trainer import OPTIMIZERS, TrainSettings, make_optimizer

from .test_trainer import CARD, run


def _state_bytes(optimizer: torch.optim.Optimizer) -> int:
    return sum(v.nbytes for entry in optimizer.state.values() for v in entry.values() if torch.is_tensor(v))


def test_the_factored_optimizer_keeps_a_sliver_of_the_memory_adamw_keeps():
    model = build_model(CARD)
    weights = sum(p.nbytes for p in model.parameters())
    held = {}
    for name in OPTIMIZERS:
        optimizer = make_optimizer(list(model.parameters()), TrainSettings(optimizer=name))
        for p in model.parameters():
            p.grad = torch.ones_like(p)
        optimizer.step()
        held[name] = _state_bytes(optimizer) / weights
    assert held["adamw"] >= 2.0  # two moments per weight
    assert held["factored"] < 0.35  # row and column means of every matrix, whole vectors


def test_an_unknown_optimizer_is_named_in_the_error():
    with pytest.raises(BadInputError, match="unknown optimizer 'sgd'; use one of adamw, factored"):
        make_optimizer(list(build_model(CARD).parameters()), TrainSettings(optimizer="sgd"))


def test_a_factored_run_resumed_gives_the_weights_of_an_unbroken_one(tmp_path):
    full = run(tmp_path, 4, "full.safetensors", optimizer="factored")
    run(tmp_path, 1, "split.safetensors", optimizer="factored")
    resumed = run(tmp_path, 4, "split.safetensors", resume=True, optimizer="factored")
    assert resumed.losses[-1] == pytest.approx(full.losses[-1], rel=1e-5) and resumed.steps == 4
    one, two = load_checkpoint(tmp_path / "full.safetensors")[0], load_checkpoint(tmp_path / "split.safetensors")[0]
    for a, b in zip(one.state_dict().values(), two.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_a_state_written_by_one_optimizer_is_not_resumed_by_another(tmp_path):
    run(tmp_path, 1, "adamw.safetensors")
    with pytest.raises(BadInputError, match="written by the AdamW optimizer and this run uses FactoredRMS"):
        run(tmp_path, 4, "adamw.safetensors", resume=True, optimizer="factored")


def test_the_factored_estimate_is_exact_for_a_rank_one_squared_gradient():
    """With ``g = a b^T`` the squared gradient is the outer product of its row and column
    means up to scale, so the first step is ``-lr * sign(g)`` (the update's RMS is 1)."""
    a, b = torch.tensor([1.0, -2.0, 0.5]), torch.tensor([3.0, 0.25, -1.0, 2.0])
    matrix, vector = torch.nn.Parameter(torch.zeros(3, 4)), torch.nn.Parameter(torch.zeros(4))
    matrix.grad, vector.grad = torch.outer(a, b), b.clone()
    FactoredRMS([matrix, vector], lr=0.1).step()
    torch.testing.assert_close(matrix.detach(), -0.1 * torch.outer(a, b).sign(), atol=1e-6, rtol=0)
    torch.testing.assert_close(vector.detach(), -0.1 * b.sign(), atol=1e-6, rtol=0)


def test_the_factored_update_is_clipped_to_its_rms_and_keeps_row_and_column_means_only():
    matrix = torch.nn.Parameter(torch.zeros(2, 8, 16))
    matrix.grad = torch.randn(2, 8, 16, generator=torch.Generator().manual_seed(0))
    optimizer = FactoredRMS([matrix], lr=1.0, clip=0.5)
    optimizer.step()
    assert matrix.detach().square().mean().sqrt().item() == pytest.approx(0.5, rel=1e-5)
    state = optimizer.state[matrix]
    assert state["rows"].shape == (2, 8) and state["columns"].shape == (2, 16) and "second" not in state


def test_the_factored_steps_follow_the_running_row_and_column_means_and_decay_the_weights():
    """Three steps against the formulas written densely: running means with decay
    ``1 - t^-0.8``, the estimate ``r c^T / mean(r)``, eps added to its root, decoupled decay."""
    grads = torch.randn(3, 4, 6, generator=torch.Generator().manual_seed(1))
    start = torch.randn(4, 6, generator=torch.Generator().manual_seed(2))
    matrix = torch.nn.Parameter(start.clone())
    optimizer = FactoredRMS([matrix], lr=0.01, eps=1e-3, clip=10.0, weight_decay=0.1)
    expected, rows, columns = start.clone(), None, None
    for t, grad in enumerate(grads, start=1):
        matrix.grad = grad.clone()
        optimizer.step()
        decay = 1 - t**-0.8
        squared = grad.square() + 1e-30
        rows = squared.mean(1) if rows is None else decay * rows + (1 - decay) * squared.mean(1)
        columns = squared.mean(0) if columns is None else decay * columns + (1 - decay) * squared.mean(0)
        estimate = torch.outer(rows / rows.mean(), columns)
        expected = expected * (1 - 0.01 * 0.1) - 0.01 * grad / (estimate.sqrt() + 1e-3)
    torch.testing.assert_close(matrix.detach(), expected, atol=1e-6, rtol=1e-5)


def test_the_cli_offers_the_trainers_optimizers():
    from napari_bright4b.cli.pretrain import OPTIMIZERS as OFFERED

    assert OFFERED == tuple(OPTIMIZERS)
