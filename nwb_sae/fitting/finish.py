"""The statistics a fit ends with: the latent table of a single-model fit, and stimulus selectivity.

``topk`` and ``relu`` fits get their table from :func:`vet_latents` (the significance test on the
held-out presentations and the one verdict; stability NaN: that needs a second fit, which those
activations do not make). Every fit adds the selectivity of its significant latents for every
categorical presentation coordinate of the data (:func:`with_selectivity`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import xarray as xr

from nwb_sae.model import SparseAutoencoder


def vet_latents(model: SparseAutoencoder, x_val: np.ndarray, codes: np.ndarray, *, alpha: float,
                n_shifts: int = 0, seed: int = 0) -> pd.DataFrame:
    """The latent table of a topk / relu fit: significance on held-out samples ``x_val`` (input units,
    ``codes`` their codes); stability NaN (those fits make one seed)."""
    from nwb_sae.stats.significance import (
        coactivation_test,
        effective_neurons,
        is_ensemble,
        verdict_reasons,
    )

    with torch.no_grad():
        xn = model.normalize(torch.as_tensor(np.asarray(x_val, dtype=np.float32), device=model.W_dec.device))
        atoms = model.W_dec.cpu().numpy()
    test = coactivation_test(atoms, xn.cpu().numpy(), n_shifts=n_shifts, seed=seed)
    frequency = (codes > 0).mean(axis=0)
    neurons = effective_neurons(atoms)
    table = pd.DataFrame({"frequency": frequency, "mean_activation": codes.mean(axis=0),
                          "statistic": test.statistic, "z_score": test.z_score, "p_value": test.p_value,
                          "q_value": test.q_value, "stability": np.nan, "effective_neurons": neurons,
                          "significant": is_ensemble(test.q_value, frequency, neurons, alpha=alpha),
                          "reason": verdict_reasons(test.q_value, frequency, neurons, alpha=alpha)})
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
