"""One session's ensemble looked for in another session's data, and the ceiling of cross-session similarity.

``project_template`` asks "when is Monday's ensemble 7 active on Friday?": the atom, restricted to the
neurons both sessions registered, is used as a template on the other session's z-scored activity with
the assembly activation strength of Lopes-dos-Santos et al. (2013): ``(w . z)^2 - sum_i w_i^2 z_i^2``,
the co-activation of the members with each neuron's own variance removed, so one busy neuron alone does
not light the template up.

``split_half_ceiling`` fits the two halves of one session apart and matches their ensembles: the
cosines a fit reaches with itself. Reported beside every cross-session cosine, it keeps fit instability
from being read as drift.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import xarray as xr

from nwb_sae.errors import InputDataError
from nwb_sae.sessions.dictionaries import session_dictionary
from nwb_sae.sessions.matching import match_pair, on_shared, shared_positions


def project_template(fit, source_session: str, latent: int, data: xr.DataArray, session: str, registry, *,
                     min_shared: int = 10) -> xr.DataArray:
    """The activation strength over time of ``source_session``'s ensemble ``latent`` in another session's ``data``.

    Parameters
    ----------
    fit
        The source session's fit (as :func:`nwb_sae.track_ensembles` takes it); ``latent`` must be one of
        its reported ensembles.
    source_session, session : str
        The session names the registry knows the fit and the data by.
    latent : int
        The latent index in the source fit (``tracks["latent"]``).
    data : xarray.DataArray
        The other session's activity (neurons, time, presentations).
    registry : nwb_sae.Registry
    min_shared : int
        Fewest shared registered neurons.

    Returns
    -------
    xarray.DataArray
        (time, presentations) activation strength; ``attrs`` name the template and ``n_shared``.
    """
    d = session_dictionary(fit, source_session, registry)
    where = np.flatnonzero(d.latents == int(latent))
    if where.size == 0:
        raise InputDataError(f"session {source_session!r}: latent {latent} is not one of the reported ensembles "
                             f"({d.latents.tolist()}); pick one from tracks['latent'].")
    ids = registry.global_ids(session, data["neurons"].values)
    ia, ib = shared_positions(d.global_ids, ids)
    if len(ia) < min_shared:
        raise InputDataError(f"sessions {source_session!r} and {session!r} share {len(ia)} registered neurons "
                             f"(fewer than {min_shared}): the template cannot be projected.")
    w = on_shared(d.atoms[where], ia)[0]
    x = np.asarray(data.transpose("neurons", "time", "presentations").values, dtype=float)[ib]
    mean = x.mean(axis=(1, 2), keepdims=True)
    sd = x.std(axis=(1, 2), keepdims=True)
    z = (x - mean) / np.where(sd > 0, sd, 1.0)
    strength = np.tensordot(w, z, axes=1) ** 2 - np.tensordot(w ** 2, z ** 2, axes=1)
    coords = {name: c for name, c in data.coords.items() if set(c.dims) <= {"time", "presentations"}}
    return xr.DataArray(strength, dims=("time", "presentations"), coords=coords, name="activation_strength",
                        attrs={"template_session": source_session, "template_latent": int(latent),
                               "session": session, "n_shared": int(len(ia)),
                               "registry_hash": registry.hash})


def split_half_ceiling(data: xr.DataArray, fit: Callable | None = None, *, min_shared: int = 10) -> np.ndarray:
    """Cosines of the matched reported ensembles of two fits of one session's halves (its presentations split).

    Parameters
    ----------
    data : xarray.DataArray
        One session (neurons, time, presentations).
    fit : callable, optional
        ``fit(half) -> fitted model`` (default ``nwb_sae.SAE(progress=False).fit``).
    min_shared : int
        As in :func:`nwb_sae.track_ensembles`.

    Returns
    -------
    numpy.ndarray
        One cosine per matched pair (empty when a half reports no ensemble); its median is the ceiling.
    """
    from nwb_sae.sessions.registry import Registry
    from nwb_sae.synthetic.sessions import split_halves

    if fit is None:
        from nwb_sae.estimator import SAE

        def fit(half):
            return SAE(progress=False).fit(half)

    first, second = split_halves(data)
    identity = Registry.from_table(_identity_table(data))
    a = session_dictionary(fit(first), "half", identity)
    b = session_dictionary(fit(second), "half", identity)
    m = match_pair(a.atoms, a.global_ids, b.atoms, b.global_ids, min_shared=min_shared, n_permutations=0)
    return np.zeros(0) if m is None else m.cosine


def _identity_table(data: xr.DataArray):
    import pandas as pd

    neurons = np.asarray(data["neurons"].values)
    return pd.DataFrame({"session": "half", "neuron": neurons, "global_id": [str(n) for n in neurons]})
