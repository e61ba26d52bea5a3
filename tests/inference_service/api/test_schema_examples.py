"""The examples /docs shows are the shipped model's, not placeholders."""

from __future__ import annotations

from pathlib import Path

from inference_service.api.schemas import ModelCard, PredictResponse
from inference_service.vision.ensemble import read_model_metadata
from inference_service.vision.options import AgeModelOptions, DetectorOptions

SHIPPED = read_model_metadata(Path(__file__).resolve().parents[3] / AgeModelOptions().path)


def test_examples_name_the_shipped_model() -> None:
    card = ModelCard.model_config["json_schema_extra"]["example"]
    answer = PredictResponse.model_config["json_schema_extra"]["example"]
    assert (card["name"], card["version"]) == (SHIPPED.name, SHIPPED.version)
    assert answer["model"] == {"name": SHIPPED.name, "version": SHIPPED.version}
    assert card["model"]["input_size"] == SHIPPED.model.input_size
    assert card["model"]["temperature"] == SHIPPED.model.temperature
    assert card["metrics"]["test"]["mae"] == SHIPPED.metrics["test"]["mae"]
    assert card["detector"] == {"name": "retinaface-mobilenet0.25", **DetectorOptions().model_dump()}
    PredictResponse.model_validate(answer)
    ModelCard.model_validate(card)
