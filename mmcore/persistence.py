"""Saving and loading a trained model: a JSON configuration and the weights, in one safetensors file.

Loading executes no code from the file (no pickle): the configuration names the fusion model (a registered
name), its options, and the *importable path* of a function that builds the modalities (``"package.module:
function"``) with the keyword arguments stored next to it. That function is imported and called on load, the
same as when the model was first built; the file only holds tensors and text.

Example::

    from mmcore import save_model, load_model
    save_model(model, "model.safetensors", modalities="mypackage.data:make_modalities",
               modality_options={"hidden": 64})
    model = load_model("model.safetensors")
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mmcore.models.base import MultimodalVAE
from mmcore.models.registry import MODELS, build_model

FORMAT = "mmcore-model"
FORMAT_VERSION = 1
CONFIG_KEY = "mmcore_config"


class ModelFileError(ValueError):
    """A model file that cannot be read back: not an mmcore model, a wrong version, or weights that do not fit."""


def _options_of(model: MultimodalVAE) -> dict[str, Any]:
    """The keyword options the model was built with (recorded by build_model, else read off its attributes)."""
    recorded = getattr(model, "build_options", None)
    if recorded is not None:
        return dict(recorded)
    options = {}
    for parameter in inspect.signature(type(model).__init__).parameters.values():
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY and hasattr(model, parameter.name):
            options[parameter.name] = getattr(model, parameter.name)
    return options


def resolve(path: str) -> Any:
    """The object at an importable path ``"package.module:attribute"``."""
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"an importable path looks like 'package.module:function', got {path!r}")
    value: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        value = getattr(value, part)
    return value


def save_model(
    model: MultimodalVAE,
    path: str | os.PathLike[str],
    *,
    modalities: str,
    modality_options: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model`` to ``path`` (one ``.safetensors`` file: weights plus the JSON configuration).

    ``modalities`` is the importable path of a function that returns the model's :class:`~mmcore.Modality`
    list when called with ``**modality_options`` (JSON-serialisable); the weights are then loaded into the
    networks it builds. The file is written to a temporary name and moved into place.
    """
    from safetensors.torch import save_model as save_weights

    if type(model).name not in MODELS or MODELS[type(model).name] is not type(model):
        raise ValueError(f"{type(model).__name__} is not a registered model; register it to save it")
    resolve(modalities)  # fail now, not when loading
    config = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "model": type(model).name,
        "latent_dim": model.latent_dim,
        "options": _options_of(model),
        "modalities": modalities,
        "modality_options": dict(modality_options or {}),
        "modality_names": list(model.modality_names),
    }
    try:
        text = json.dumps(config)
    except TypeError as error:
        raise ValueError(f"model options and modality_options must be JSON-serialisable: {error}") from None
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    save_weights(model, str(temporary), metadata={CONFIG_KEY: text})
    os.replace(temporary, path)
    return path


def read_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The configuration stored in a model file (no weights read)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except Exception as error:  # safetensors raises its own error types for damaged headers
        raise ModelFileError(f"{path}: not a safetensors file ({error})") from None
    if CONFIG_KEY not in metadata:
        raise ModelFileError(f"{path}: no mmcore configuration (was it written by mmcore.save_model?)")
    config = json.loads(metadata[CONFIG_KEY])
    if config.get("format") != FORMAT or config.get("version") != FORMAT_VERSION:
        raise ModelFileError(f"{path}: format {config.get('format')!r} version {config.get('version')!r} not readable")
    return config


def load_model(path: str | os.PathLike[str]) -> MultimodalVAE:
    """The model saved at ``path`` by :func:`save_model`, rebuilt and with its weights loaded (strictly)."""
    from safetensors.torch import load_model as load_weights

    config = read_config(path)
    modalities = resolve(config["modalities"])(**config["modality_options"])
    names = [modality.name for modality in modalities]
    if names != config["modality_names"]:
        raise ModelFileError(
            f"{path}: {config['modalities']} now builds modalities {names}, "
            f"the model was saved with {config['modality_names']}"
        )
    model = build_model(config["model"], modalities, config["latent_dim"], **config["options"])
    try:
        load_weights(model, str(path), strict=True)
    except RuntimeError as error:
        raise ModelFileError(f"{path}: the weights do not fit the rebuilt model: {error}") from None
    return model
