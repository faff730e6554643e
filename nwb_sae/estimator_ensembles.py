"""The statistics behind every latent of an :class:`nwb_sae.SAE`: the default fit and the latent table.

``SAE.fit`` with ``activation="batchtopk"`` (the default) runs :func:`nwb_sae.ensembles.find_ensembles`:
the number of latents and the sparsity are chosen on held-out presentations (unless given), several
seeds are fitted together, and every latent is tested against circular shifts and scored for stability.
The fitted estimator then carries ``significant_`` and ``latent_table_`` (one row per latent), and the
selection's ``selection_curve_`` and ``mp_count_``. ``topk`` and ``relu`` fits train as before
(:mod:`nwb_sae.train`) and get the same table from :func:`vet_latents`: the significance test on the
held-out presentations, and no stability score (NaN: that needs a second fit, which those
activations do not make).

Both add stimulus selectivity (:func:`with_selectivity`) of the significant latents for every
categorical presentation coordinate of the data. Nothing here sets an estimator's attributes: every fit
path returns a :class:`FitOutcome`, and ``SAE.fit`` sets the fitted state from it in one place.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
import xarray as xr

from nwb_sae.config import ModelConfig, TrainConfig
from nwb_sae.model import SparseAutoencoder

FLEET_SETTINGS = {"epochs": "max_epochs", "patience": "patience", "batch_size": "batch_size", "lr": "lr"}
"""TrainConfig fields that, when changed from their defaults, override the ensemble fit's own."""


def fleet_kwargs(cfg_t: TrainConfig, n_train: int, history: dict, on_epoch=None) -> dict:
    """Arguments of :func:`nwb_sae.ensembles.fleet.fit_fleet` from the training settings.

    The ensemble fit has its own measured defaults (epochs, patience, batch size, learning rate);
    only settings the user changed replace them. Changed ``epochs`` also brings the batch size of
    :meth:`~nwb_sae.config.TrainConfig.resolve_batch_size` (at least 32 steps an epoch), since the
    ensemble fit's large batches need more epochs than a user asking for few expects, and no floor of
    optimisation steps (``min_steps``) raises the epochs the user gave (``raise_epochs=False``). Each epoch appends the mean
    held-out error of the fitted instances to ``history`` (``epoch`` counts on across the selection
    and the final fits) and calls ``on_epoch(row)`` with that row when given.
    """
    defaults = TrainConfig()
    kwargs = {name: getattr(cfg_t, field) for field, name in FLEET_SETTINGS.items()
              if getattr(cfg_t, field) is not None and getattr(cfg_t, field) != getattr(defaults, field)}
    if "max_epochs" in kwargs:
        kwargs["batch_size"] = cfg_t.resolve_batch_size(n_train)
        kwargs["raise_epochs"] = False  # the user's epochs are the budget: no step floor raises them

    def record(_epoch: int, val_mse: torch.Tensor) -> None:
        history["epoch"].append(len(history["epoch"]) + 1)
        history["val_loss"].append(float(val_mse.mean()))
        if on_epoch is not None:
            on_epoch({key: values[-1] for key, values in history.items()})

    kwargs["progress"] = record
    return kwargs


class FitOutcome(NamedTuple):
    """What a fit path hands back to :meth:`nwb_sae.SAE.fit`, which sets its fitted attributes from it."""

    model: SparseAutoencoder
    """The fitted model, normalisation included."""
    history: dict
    """Per-epoch history (``history_``)."""
    best_epoch: int
    """Epoch whose weights were kept (``best_epoch_``)."""
    samples_per_second: float | None = None
    """Training throughput (single-model fits)."""
    world_size: int = 1
    """Processes that trained the model (torchrun)."""
    rank: int = 0
    """This process's rank."""
    latent_table: pd.DataFrame | None = None
    """The ensemble fit's latent table; None when the statistics are still to be computed."""
    selection_curve: pd.DataFrame | None = None
    """Candidates of the model selection."""
    mp_count: int | None = None
    """Marchenko-Pastur count of the training data."""
    consensus: np.ndarray | None = None
    """Consensus dictionary over seeds."""


def fit_ensembles(arr: xr.DataArray, val_idx: np.ndarray, x_train: np.ndarray, x_val: np.ndarray,
                  mean: np.ndarray, scale: np.ndarray, cfg_m: ModelConfig, cfg_t: TrainConfig,
                  on_epoch=None) -> FitOutcome:
    """The default fit: select, fit several seeds, vet every latent.

    ``x_train`` / ``x_val`` are population vectors in input units, presentations contiguous (as
    :func:`nwb_sae.samples.population_vectors` orders them); ``val_idx`` the held-out presentations.
    ``on_epoch(row)`` runs after every epoch of every fit. The outcome's model (normalisation
    included, on the CPU) is BatchTopK, or per-sample TopK when the dense path reported more ensembles.
    """
    from nwb_sae.ensembles import find_ensembles, load_weights

    xt, xv = (x_train - mean) / scale, (x_val - mean) / scale
    groups = np.repeat(np.arange(len(val_idx)), arr.sizes["time"])
    history = {"epoch": [], "val_loss": []}
    res = find_ensembles(xt, xv, groups, n_latents=cfg_m.n_latents, k=cfg_m.k, n_seeds=cfg_t.n_seeds,
                         alpha=cfg_t.alpha, n_shifts=cfg_t.n_shifts, seed=cfg_t.seed,
                         fit_kwargs=fleet_kwargs(cfg_t, len(xt), history, on_epoch),
                         dense_config=cfg_t, progress=cfg_t.progress)
    model = SparseAutoencoder(arr.sizes["neurons"], replace(cfg_m, n_latents=res.n_latents, k=res.k,
                                                             activation=res.activation))
    model.input_mean.copy_(torch.from_numpy(mean))
    model.input_scale.copy_(torch.from_numpy(scale))
    load_weights(model, res.weights)
    model.eval()
    best_epoch = int(np.argmin(history["val_loss"])) + 1 if history["val_loss"] else 0
    return FitOutcome(model, history, best_epoch, latent_table=res.latent_table,
                      selection_curve=res.selection_curve, mp_count=res.mp_count, consensus=res.consensus)


def vet_latents(model: SparseAutoencoder, x_val: np.ndarray, codes: np.ndarray, *, alpha: float,
                n_shifts: int = 0, seed: int = 0) -> pd.DataFrame:
    """The latent table of a topk / relu fit: significance on held-out samples ``x_val`` (input units,
    ``codes`` their codes); stability NaN (those fits make one seed)."""
    from nwb_sae.ensembles.significance import coactivation_test, effective_neurons, is_ensemble

    with torch.no_grad():
        xn = model.normalize(torch.as_tensor(np.asarray(x_val, dtype=np.float32), device=model.W_dec.device))
        atoms = model.W_dec.cpu().numpy()
    test = coactivation_test(atoms, xn.cpu().numpy(), n_shifts=n_shifts, seed=seed)
    frequency = (codes > 0).mean(axis=0)
    neurons = effective_neurons(atoms)
    table = pd.DataFrame({"frequency": frequency, "mean_activation": codes.mean(axis=0),
                          "statistic": test.statistic, "z_score": test.z_score, "p_value": test.p_value,
                          "q_value": test.q_value, "stability": np.nan, "effective_neurons": neurons,
                          "significant": is_ensemble(test.q_value, frequency, neurons, alpha=alpha)})
    table.index.name = "latent"
    return table


def categorical_columns(arr: xr.DataArray) -> dict[str, np.ndarray]:
    """Presentation coordinates that label groups of presentations (trial type, stimulus, ...).

    A coordinate along ``presentations`` only, not the dimension's own index, not floating point
    (times), with at least two labels and on average at least two presentations per label.
    """
    n = arr.sizes["presentations"]
    columns = {}
    for name, coord in arr.coords.items():
        if name == "presentations" or coord.dims != ("presentations",) or coord.dtype.kind in "fcmM":
            continue
        labels = coord.values
        n_labels = len(pd.unique(pd.Series(labels).dropna()))
        if 2 <= n_labels <= n // 2:
            columns[str(name)] = labels
    return columns


def with_selectivity(table: pd.DataFrame, arr: xr.DataArray, encode, *, n_permutations: int,
                     seed: int) -> pd.DataFrame:
    """``table`` joined with the selectivity of its significant latents for each categorical column of
    ``arr``; ``encode(arr)`` gives the codes, called only when ``arr`` has such a column."""
    from nwb_sae.ensembles import selectivity_table

    columns = categorical_columns(arr)
    if not columns:
        return table
    responses = encode(arr).mean("time").transpose("latents", "presentations").values
    selectivity = selectivity_table(responses, columns, table["significant"].to_numpy(dtype=bool),
                                    n_permutations=n_permutations, seed=seed)
    return table.join(selectivity)


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
