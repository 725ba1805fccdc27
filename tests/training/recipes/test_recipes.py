import numpy as np
import pytest
import torch

from napari_bright4b.cli.demo import DEMO_SEED
from napari_bright4b.data.synthetic.lightsheet import STAINS
from napari_bright4b.models.checkpoint import build_model
from napari_bright4b.training.patches import Example
from napari_bright4b.training.recipes import RECIPES, lightsheet, organelles


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipes_keep_their_splits_apart_and_name_their_command(name):
    recipe = RECIPES[name]
    card = recipe.card()
    assert not set(recipe.train_seeds) & set(recipe.held_out_seeds)
    assert DEMO_SEED not in set(recipe.train_seeds) | set(recipe.held_out_seeds)
    init = f" --init bright4b-nano-{recipe.starts_from}.safetensors" if recipe.starts_from else ""
    assert card.provenance["command"].endswith(f"bright4b train {name}{init} -o {card.name}.safetensors")
    if recipe.starts_from:  # the chain of commands from a recipe that starts from nothing
        assert f"bright4b train {recipe.starts_from} " in card.provenance["command"]
        assert RECIPES[card.provenance["command"].split()[2]].starts_from is None
        assert set(RECIPES[recipe.starts_from].train_seeds) <= set(recipe.train_seeds)
    assert card.config.dim == 64, "bundled models use the nano preset"


def test_the_command_line_offers_every_recipe():
    from napari_bright4b.cli.train import RECIPE_NAMES, STARTS_FROM

    assert set(RECIPE_NAMES) == set(RECIPES) | {"folder"}
    assert STARTS_FROM == {name: r.starts_from for name, r in RECIPES.items() if r.starts_from}


def test_randomized_colonies_come_at_their_own_voxel_size_and_train_at_the_models():
    drawn = organelles.colony(1003, "training")
    assert drawn.voxel_size != organelles.colony(1003).voxel_size
    example = organelles.randomized_example(1003)
    card = RECIPES["organelles-randomized"].card()
    expected = [round(n * v / m) for n, v, m in zip(drawn.image.shape, drawn.voxel_size, card.voxel_size)]
    assert example.image.shape[1:] == example.target.shape[1:] and list(example.image.shape[1:]) == expected
    assert card.name == "bright4b-nano-organelles-randomized"
    assert card.config.same_weights(RECIPES["organelles"].card().config)  # the routing may differ
    scored = set(organelles.RANDOMIZED_HELD_OUT_SEEDS)
    assert not scored & set(organelles.RANDOMIZED_TRAIN_SEEDS) and DEMO_SEED not in scored


@pytest.mark.parametrize("name", ["organelles", "stain"])
def test_a_third_stage_sees_the_same_volumes_in_larger_batches(name):
    third, second = RECIPES[name], RECIPES[f"{name}-broad"]
    assert third.starts_from == second.name and third.train_seeds == second.train_seeds
    assert third.batch_size == 8 > second.batch_size and third.learning_rate == second.learning_rate
    assert third.card().config == second.card().config and third.card().name == f"bright4b-nano-{name}"
    if second.routing_supervision is not None:  # the confidence ramps in over the same quarter of the run
        ramp = second.routing_supervision.for_steps(third.steps, second.steps)
        assert third.routing_supervision == ramp


def test_stain_splits_are_balanced_and_examples_carry_their_class():
    assert [lightsheet.stain_of(s) for s in range(8)] == list(STAINS)
    seeds = RECIPES["stain"].held_out_seeds
    counts = {stain: sum(lightsheet.stain_of(s) == stain for s in seeds) for stain in STAINS}
    assert len(set(counts.values())) == 1
    example = lightsheet.stain_example(3005)
    assert example.image.shape == (1, *lightsheet.STAIN_SHAPE)
    assert np.all(example.target == STAINS.index(lightsheet.stain_of(3005)))


def test_deblur_pairs_share_units():
    """Input and target pass through the same normalizer: blur keeps the photon budget
    and noise is zero-mean, so both have the same mean, while the sharp target keeps
    the contrast the blur removed."""
    example = lightsheet.deblur_example(2001)
    image, target = example.image[0], example.target[0]
    assert np.percentile(image, 1.0) == pytest.approx(0.0, abs=1e-5)
    assert np.percentile(image, 99.8) == pytest.approx(1.0, abs=1e-5)
    assert target.mean() == pytest.approx(image.mean(), rel=0.03)
    assert target.std() > image.std()


def test_an_identity_restoration_gains_nothing():
    """With a zeroed residual head the deblurring model returns its input: SSIM gain 0."""
    card = lightsheet.deblur_card()
    model = build_model(card).eval()
    with torch.no_grad():
        for parameter in model.head.parameters():
            parameter.zero_()
    scores = lightsheet.evaluate_deblur(model, card, [9100])
    assert scores["ssim_gain"] == pytest.approx(0.0, abs=1e-3)
    assert scores["ssim_before"] < 1 and set(scores["per_stain"]) == {lightsheet.stain_of(9100)}


def test_stain_evaluation_counts_every_volume():
    card = lightsheet.stain_card()
    scores = lightsheet.evaluate_stain(build_model(card).eval(), card, [9200, 9201, 9202])
    assert np.sum(scores["confusion"]) == 3 and scores["classes"] == list(STAINS)
    assert np.trace(scores["confusion"]) / 3 == pytest.approx(scores["accuracy"], abs=1e-4)  # rounded to 4 places


def test_calibration_picks_the_cut_with_the_best_dice():
    truth = np.zeros((2, 4, 16, 16), bool)
    truth[0, :, :8], truth[1, :, :, :4] = True, True
    probabilities = np.where(truth, 0.32, 0.1).astype(np.float32)  # 0.3 and below find everything
    probabilities[0, :, :2] = 0.6  # above 0.5 only part of the first class
    cuts = organelles.best_cuts([(probabilities, truth), (probabilities, truth)], ["a", "b"])
    assert cuts == {"a": 0.15, "b": 0.15}
    probabilities[1, :, :, 4:6] = 0.2  # false positives up to 0.2: the cut moves above them
    assert organelles.best_cuts([(probabilities, truth)], ["a", "b"])["b"] == 0.25


@pytest.mark.parametrize(("name", "mirrors_z"), [("organelles", False), ("deblur", True), ("stain", True)])
def test_only_light_sheet_patches_are_mirrored_in_z(name, mirrors_z):
    """Brightfield contrast inverts across focus, so a z-mirrored stack would show each
    object with the opposite refractive index; light-sheet blur is symmetric in z."""
    ramp = np.broadcast_to(np.arange(40, dtype=np.float32)[:, None, None], (40, 80, 80))[None]
    example = Example(ramp.copy(), np.zeros((1, 40, 80, 80), np.uint8))
    sampler = RECIPES[name].sampler([example], np.random.default_rng(0))
    rising = [np.diff(sampler.sample()[0][0, :, 0, 0]).mean() > 0 for _ in range(32)]
    assert all(rising) != mirrors_z and any(rising)


def test_broad_recipes_keep_the_classic_corner_and_add_the_training_ranges(monkeypatch):
    deblur_seeds = RECIPES["deblur"].train_seeds
    assert set(lightsheet.DEBLUR_TRAIN_SEEDS) < set(deblur_seeds) and len(deblur_seeds) == 3 * 64
    classic, randomized = lightsheet.DEBLUR_TRAIN_SEEDS[1], deblur_seeds[-1]
    for seed, ranges in ((classic, "classic"), (randomized, "training")):
        broad = lightsheet.deblur_example(seed, "broad")
        np.testing.assert_array_equal(broad.image, lightsheet.deblur_example(seed, ranges).image)
    stains = [lightsheet.stain_of(s) for s in lightsheet.BROAD_STAIN_CLASSIC_SEEDS]
    assert {stains.count(stain) for stain in STAINS} == {len(stains) // len(STAINS)}

    drawn = []
    monkeypatch.setattr(organelles, "brightfield_example", lambda seed: drawn.append(("classic", seed)))
    monkeypatch.setattr(organelles, "randomized_example", lambda seed: drawn.append(("training", seed)))
    RECIPES["organelles"].examples(RECIPES["organelles"].train_seeds)
    assert [s for r, s in drawn if r == "classic"] == list(organelles.TRAIN_SEEDS)
    assert len([s for r, s in drawn if r == "training"]) == 2 * len(organelles.TRAIN_SEEDS)
    for name in ("organelles", "deblur", "stain"):
        assert RECIPES[name].card().name == f"bright4b-nano-{name}"


def test_the_refining_deblur_model_learns_from_a_deconvolution_by_a_roughly_known_psf():
    from napari_bright4b.data.synthetic.lightsheet_ranges import RANGES
    from napari_bright4b.data.synthetic.nominal_psf import nominal_psf

    seed = 2071  # a light sheet, blurred widely
    sample = lightsheet.lightsheet_sample(seed, lightsheet.DEBLUR_SHAPE, RANGES["training"])
    exact, rough = (
        nominal_psf(sample.blur, sample.voxel_size, sample.image.shape),
        lightsheet.misjudged_psf(sample, seed),
    )
    assert (
        exact.shape != rough.shape or not np.allclose(exact, rough)
    ) and lightsheet.deblur_rl_card().deconvolution == lightsheet.RL_SETTINGS
    example = lightsheet.deblur_rl_example(seed)
    assert example.image.shape == example.target.shape == (1, *lightsheet.DEBLUR_SHAPE)

    def agreement(volume):  # with the sharp target, whatever the intensity scale
        return np.corrcoef(volume.ravel(), example.target.ravel())[0, 1]

    assert agreement(example.image) > agreement(sample.image) + 0.02
