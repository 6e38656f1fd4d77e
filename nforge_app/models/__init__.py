"""Encoding models: one module per model, registered here by id.

Adding a model means adding its module and one line to ``_REGISTRY``.
"""

from __future__ import annotations

import importlib

from nforge_app.checks import check_in
from nforge_app.models._base import EncodingModel
from nforge_app.values import HiddenFeatures, ModelCard, Prediction

# model id -> "module:Class". The class carries its ModelCard as `card`.
_REGISTRY: dict[str, str] = {
    "nforge-lite": "nforge_app.models.lite:LiteModel",
    "tribe-v2": "nforge_app.models.tribe:TribeModel",
    "text2fmri": "nforge_app.models.text2fmri:Text2fMRIModel",
    "flow-matching": "nforge_app.models.flow:FlowMatchingModel",
}


def _aliases() -> dict[str, str]:
    table = {}
    for model_id in _REGISTRY:
        for alias in get_model_class(model_id).card.aliases:
            table[alias] = model_id
    return table


def resolve_model_id(model_id: str) -> str:
    """Return our id for ``model_id`` (which may be a BERG alias); raise ``UserInputError`` if unknown."""
    if model_id in _REGISTRY:
        return model_id
    aliases = _aliases()
    check_in("model", model_id, sorted(_REGISTRY) + sorted(aliases))
    return aliases[model_id]


def get_model_class(model_id: str) -> type[EncodingModel]:
    """The class registered under ``model_id`` (or one of its aliases)."""
    module_name, class_name = _REGISTRY[resolve_model_id(model_id)].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def get_card(model_id: str) -> ModelCard:
    """The model card of ``model_id``, without loading any weights."""
    return get_model_class(model_id).card


def list_model_ids() -> list[str]:
    """Our model ids, the offline default first."""
    return list(_REGISTRY)


__all__ = ["EncodingModel", "HiddenFeatures", "ModelCard", "Prediction", "get_card", "get_model_class", "list_model_ids",
           "resolve_model_id"]
