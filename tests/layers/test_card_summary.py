from napari_bright4b.layers.card_summary import card_rows
from napari_bright4b.models.config import total_parameters
from napari_bright4b.models.registry import resolve


def test_the_card_shows_task_classes_voxel_size_parameters_provenance_and_metrics():
    card = resolve("bright4b-nano-organelles").card
    rows = dict(card_rows(card))
    assert rows["task"] == "segment (sigmoid)"
    assert rows["classes"] == "nuclei, nucleoli, mitochondria"
    assert rows["voxel size"] == "{:g} x {:g} x {:g} um (z, y, x)".format(*card.voxel_size)
    assert rows["views"].startswith(f"{card.views} per tile")
    assert rows["parameters"] == f"{total_parameters(card.config, card.head):,}"
    assert rows["provenance: recipe"] == "organelles"
    assert rows["metrics: structures: nuclei"].startswith("dice ")
