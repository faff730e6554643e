"""A fitted :class:`~nwb_sae.estimator.SAE` as a checkpoint: the JSON it is saved with, and the way back.

The weights go to safetensors and everything else (settings, normalisation, neuron ids, metrics,
history, the ensemble statistics and the model selection) to JSON (:mod:`nwb_sae.training.checkpoint`), so a
user-handed file is never unpickled.
"""

from __future__ import annotations

import dataclasses
import json

import pandas as pd

from nwb_sae.config import ModelConfig
from nwb_sae.errors import CheckpointError
from nwb_sae.model import SparseAutoencoder
from nwb_sae.preprocess import Preprocessing
from nwb_sae.training.checkpoint import legacy_checkpoint, load_checkpoint
from nwb_sae.training.loop import resolve_device

CHECKPOINT_FORMAT = "nwb-sae/1"


def checkpoint_meta(sae) -> dict:
    """The JSON saved beside a fitted SAE's weights."""
    from nwb_sae import __version__

    model = sae._check_fitted()
    return {
        "format": CHECKPOINT_FORMAT,
        "nwb_sae_version": __version__,
        "settings": sae.get_params(),
        "n_neurons": model.n_inputs,
        "normalization": {"mode": sae.normalize,
                          "mean": model.input_mean.cpu().tolist(),
                          "scale": model.input_scale.cpu().tolist()},
        "neuron_coords": sae.neuron_coords_,
        "data_attrs": sae.data_attrs_,
        "metrics": sae.metrics_,
        "history": sae.history_,
        "world_size": getattr(sae, "world_size_", 1),
        "model_config": dataclasses.asdict(model.config),
        "preprocessing": preprocessing_json(sae),
        "ensembles": ensemble_meta(sae),
    }


def sae_from_checkpoint(cls, path, device: str | None = None):
    """A fitted ``cls`` (an SAE) from a checkpoint written by :func:`checkpoint_meta` + the weights, or a
    legacy weights-only ``.pt``; on ``device`` (default: the one it was saved with)."""
    tensors, meta = load_checkpoint(path)
    if "format" not in meta:
        tensors, meta = legacy_checkpoint(tensors, path)
    try:
        sae = cls(**meta["settings"])
        config = ModelConfig(**meta["model_config"]) if "model_config" in meta else sae.settings.model.resolved()
        model = SparseAutoencoder(int(meta["n_neurons"]), config)
        model.load_state_dict(tensors)
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{path}: the weights do not match the saved settings ({err}).") from err
    sae.model_ = model
    sae.neuron_coords_ = meta.get("neuron_coords", {})
    sae.data_attrs_ = meta.get("data_attrs", {})
    sae.metrics_ = meta.get("metrics", {})
    sae.history_ = meta.get("history", {})
    sae.best_epoch_ = sae.metrics_.get("best_epoch")
    sae.world_size_ = int(meta.get("world_size", 1))
    restore_ensembles(sae, meta.get("ensembles", {}))
    sae.preprocessing_ = Preprocessing.from_json(meta["preprocessing"]) if meta.get("preprocessing") else None
    if device is not None:
        sae.device = device
    sae.model_.to(resolve_device(sae.device))
    sae.n_features_in_ = sae.model_.n_inputs + len(sae.data_attrs_.get("dropped_neurons", []))
    return sae


def preprocessing_json(sae) -> dict | None:
    """What the front end did (:class:`~nwb_sae.preprocess.Preprocessing`) as JSON; None before the front end existed."""
    record = getattr(sae, "preprocessing_", None)
    return None if record is None else record.to_json()


def ensemble_meta(sae) -> dict:
    """The latent table and the selection as JSON-able data (for the checkpoint)."""
    table = getattr(sae, "latent_table_", None)
    if table is None:
        return {}
    curve = sae.selection_curve_
    return {"latent_table": latent_table_json(table),
            "selection_curve": None if curve is None else json.loads(curve.to_json(orient="split")),
            "mp_count": sae.mp_count_}


def latent_table_json(table: pd.DataFrame) -> dict:
    """A latent table as JSON-able ``split`` data (NaN as null); :func:`restore_ensembles` reads it back."""
    return json.loads(table.to_json(orient="split"))


def selection_record(sae) -> dict:
    """What the provenance says of the model selection: size, sparsity, Marchenko-Pastur count, curve."""
    model, curve = sae.model_, getattr(sae, "selection_curve_", None)
    significant = getattr(sae, "significant_", None)
    return {"selected": curve is not None, "n_latents": int(model.n_latents), "k": float(model.config.k),
            "mp_count": getattr(sae, "mp_count_", None), "alpha": sae.alpha,
            "n_significant": None if significant is None else int(significant.sum()),
            "curve": None if curve is None else curve.to_dict(orient="list")}


def restore_ensembles(sae, meta: dict) -> None:
    """Set ``latent_table_``, ``significant_``, ``selection_curve_`` and ``mp_count_`` from :func:`ensemble_meta`."""
    if not meta.get("latent_table"):
        return
    table = _frame(meta["latent_table"])
    table.index.name = "latent"
    sae.latent_table_ = table
    sae.significant_ = table["significant"].to_numpy(dtype=bool)
    curve = meta.get("selection_curve")
    sae.selection_curve_ = None if curve is None else _frame(curve)
    sae.mp_count_ = meta.get("mp_count")


def _frame(split: dict) -> pd.DataFrame:
    """A DataFrame from ``to_json(orient="split")``, where NaN came back as None."""
    frame = pd.DataFrame(split["data"], columns=split["columns"], index=split["index"])
    for name in [c for c in frame.columns if frame[c].dtype.kind == "O"]:
        if frame[name].map(_is_number).all():
            frame[name] = frame[name].astype(float)
    return frame


def _is_number(value) -> bool:
    return value is None or isinstance(value, float | int) and not isinstance(value, bool)
