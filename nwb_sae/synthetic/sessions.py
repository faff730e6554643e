"""Ground truth across sessions: one neuron pool recorded over days, with ensembles that persist, drift, appear and vanish.

Tracking is judged on data whose answer is known (Pérez-Ortega et al. 2021: some ensembles keep most
members for weeks, others are transient; Rubin et al. 2015: ensembles change with elapsed time alone).
A pool of neurons is recorded in several sessions, each observing a random part of it under its own
local ids; a registry maps local ids to pool ids, optionally with a fraction of ids swapped (the
registration errors of real tools). Assemblies are of five kinds:

``stable``   the same members in every session (true status "persistent");
``drifting`` a fraction of members replaced by other neurons each session ("drifting");
``born``     absent before session ``born_at`` ("new");
``dying``    present only up to session ``dies_after`` ("vanished");
``growing``  stable members, activation rate rising over sessions, as with learning ("persistent").

Controls: :func:`split_halves` (the ceiling: two halves of one session), :func:`shuffled_registry` (the
null: global ids permuted), and ``control="drift_only"`` (every assembly drifts, nothing is born, dies or
learns: drift without learning). The spike variant is Poisson counts as in
:func:`nwb_sae.synthetic.make_assemblies`; ``kind="calcium"`` convolves them with an exponential kernel
plus noise (the same recipe as ``make_assemblies``; the imaging model of ``synthetic_imaging`` is not
used here).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from scipy.signal import lfilter

from nwb_sae.errors import InputDataError
from nwb_sae.io.recording.arrays import ACTIVITY_DIMS

KIND_STATUS = {"stable": "persistent", "drifting": "drifting", "born": "new", "dying": "vanished",
               "growing": "persistent"}
"""The true track status of each assembly kind."""


@dataclass
class SessionsTruth:
    """Recordings of one neuron pool over sessions, and everything planted in them."""

    data: dict
    """{session: DataArray (neurons, time, presentations)}; ``neurons`` holds the session's local ids and a
    ``global_id`` coordinate (the registry's ids, with its errors)."""
    registry: pd.DataFrame
    """The registry a tool would give: session, neuron (local id), global_id (with the swaps), confidence."""
    true_registry: pd.DataFrame
    """The same rows with the true pool ids."""
    assemblies: pd.DataFrame
    """One row per assembly: ``kind``, ``status`` (the true track status)."""
    atoms: np.ndarray
    """(assemblies, sessions, pool) the planted atom of each assembly in each session over the pool, unit
    norm over the members (all zero where the assembly is absent)."""
    rates: np.ndarray
    """(assemblies, sessions) activation events per second (0 absent)."""
    observed: np.ndarray
    """(sessions, pool) bool: which pool neurons each session records."""

    @property
    def sessions(self) -> list[str]:
        return list(self.data)

    def pool_atoms(self, session: str) -> xr.DataArray:
        """The planted atoms of a session over its own neurons (latents, neurons), a ``significant`` coordinate
        True where the assembly is present: a perfect per-session fit, for tests and as a reference."""
        s = self.sessions.index(session)
        data = self.data[session]
        pool = np.asarray(data["pool_index"].values)
        atoms = self.atoms[:, s, :][:, pool]
        return xr.DataArray(atoms, dims=("latents", "neurons"),
                            coords={"latents": np.arange(len(atoms)), "neurons": data["neurons"].values,
                                    "significant": ("latents", self.rates[:, s] > 0)})


def make_sessions(n_pool: int = 400, n_sessions: int = 5, observed: tuple[float, float] = (0.6, 0.8),
                  registration_error: float = 0.0, kinds: dict | None = None, members: int = 20,
                  drift: float = 0.15, born_at: int = 2, dies_after: int = 1, growth: float = 0.5,
                  activation_rate: float = 1.0, extra_spikes: float = 1.0, participation: float = 1.0,
                  background_rate: tuple[float, float] = (1.0, 5.0), bin_size: float = 0.025,
                  duration: float = 300.0, n_presentations: int = 50, kind: str = "poisson",
                  control: str | None = None, decay_time: float = 0.5, noise_std: float = 0.2,
                  seed: int = 0) -> SessionsTruth:
    """Simulate sessions of one neuron pool with planted assemblies that persist, drift, appear and vanish.

    Parameters
    ----------
    n_pool : int
        Neurons in the pool (the animal's neurons that could be recorded).
    n_sessions : int
        Number of sessions (``s0``, ``s1``, ...).
    observed : (float, float)
        Each session records a random fraction of the pool drawn uniformly from this range.
    registration_error : float
        Fraction of each session's registry rows whose global ids are swapped in pairs (0, 0.05, 0.15).
    kinds : dict {kind: count}, optional
        Assemblies per kind (default: 4 stable, 3 drifting, 2 born, 2 dying, 1 growing: 12).
    members : int
        Members per assembly (disjoint assemblies; replaced members come from neurons in no assembly).
    drift : float
        Fraction of a drifting assembly's members replaced per session.
    born_at, dies_after : int
        Session index where ``born`` assemblies first appear / last session of ``dying`` ones.
    growth : float
        A ``growing`` assembly's rate is ``activation_rate * (1 + growth * s)`` in session ``s``.
    activation_rate, extra_spikes, participation, background_rate, bin_size, decay_time, noise_std
        As in :func:`nwb_sae.synthetic.make_assemblies`.
    duration : float
        Seconds per session, in ``n_presentations`` consecutive presentations.
    kind : {'poisson', 'calcium'}
        Spike counts, or counts convolved with ``exp(-t / decay_time)`` plus Gaussian noise.
    control : {None, 'drift_only'}
        'drift_only': every assembly drifts; none is born, dies or changes its rate.
    seed : int
        Seed of everything random.

    Returns
    -------
    SessionsTruth

    Examples
    --------
    >>> truth = make_sessions(n_pool=60, n_sessions=3, kinds={"stable": 2, "born": 1}, members=8,
    ...                       duration=20, n_presentations=4)
    >>> truth.sessions, truth.assemblies["status"].tolist()
    (['s0', 's1', 's2'], ['persistent', 'persistent', 'new'])
    """
    if kind not in ("poisson", "calcium"):
        raise InputDataError(f"kind must be 'poisson' or 'calcium', got {kind!r}.")
    if control not in (None, "drift_only"):
        raise InputDataError(f"control must be None or 'drift_only', got {control!r}.")
    kinds = dict(kinds or {"stable": 4, "drifting": 3, "born": 2, "dying": 2, "growing": 1})
    if control == "drift_only":
        kinds = {"drifting": sum(kinds.values())}
    unknown = sorted(set(kinds) - set(KIND_STATUS))
    if unknown:
        raise InputDataError(f"unknown assembly kind(s) {unknown}; use {sorted(KIND_STATUS)}.")
    labels = [k for k, n in kinds.items() for _ in range(n)]
    if len(labels) * members > n_pool:
        raise InputDataError(f"{len(labels)} assemblies of {members} members need {len(labels) * members} "
                             f"neurons; the pool has {n_pool}. Enlarge n_pool or shrink members.")
    rng = np.random.default_rng(seed)
    names = [f"s{s}" for s in range(n_sessions)]
    order = rng.permutation(n_pool)
    sets = [order[i * members:(i + 1) * members] for i in range(len(labels))]
    free = list(order[len(labels) * members:])
    atoms = np.zeros((len(labels), n_sessions, n_pool))
    rates = np.zeros((len(labels), n_sessions))
    for a, label in enumerate(labels):
        current = np.array(sets[a])
        for s in range(n_sessions):
            if label == "drifting" and s > 0:
                current = _drift(current, drift, free, rng)
            present = not ((label == "born" and s < born_at) or (label == "dying" and s > dies_after))
            if present:
                atoms[a, s, current] = 1.0 / np.sqrt(len(current))
                rates[a, s] = activation_rate * ((1 + growth * s) if label == "growing" else 1.0)
    n_time = int(round(duration / bin_size / n_presentations))
    seen = np.zeros((n_sessions, n_pool), dtype=bool)
    data, rows = {}, []
    for s, name in enumerate(names):
        keep = np.sort(rng.choice(n_pool, int(round(rng.uniform(*observed) * n_pool)), replace=False))
        seen[s, keep] = True
        values = _simulate(atoms[:, s, keep] > 0, rates[:, s], n_time, n_presentations, extra_spikes,
                           participation, background_rate, bin_size, rng)
        if kind == "calcium":
            values = _calcium(values, bin_size, decay_time, noise_std, rng)
        local = np.sort(rng.choice(10 * n_pool, len(keep), replace=False))  # local ids are not pool ids
        true_ids = np.array([f"n{i}" for i in keep])
        given = _swap(true_ids, registration_error, np.random.default_rng([seed, s, 1]))  # data independent of it
        rows.append(pd.DataFrame({"session": name, "neuron": local, "global_id": given, "true_id": true_ids}))
        coords = {"neurons": local, "time": np.arange(n_time) * bin_size, "presentations": np.arange(n_presentations),
                  "global_id": ("neurons", given), "pool_index": ("neurons", keep)}
        data[name] = xr.DataArray(values, dims=ACTIVITY_DIMS, coords=coords, name="activity",
                                  attrs={"source": f"nwb_sae.synthetic.make_sessions/{name}", "session": name,
                                         "bin_size": bin_size, "kind": kind, "seed": seed})
    table = pd.concat(rows, ignore_index=True)
    table["confidence"] = 1.0
    registry = table[["session", "neuron", "global_id", "confidence"]]
    true_registry = table[["session", "neuron", "true_id", "confidence"]].rename(columns={"true_id": "global_id"})
    assemblies = pd.DataFrame({"kind": labels, "status": [KIND_STATUS[k] for k in labels]})
    return SessionsTruth(data, registry, true_registry, assemblies, atoms, rates, seen)


def _drift(current: np.ndarray, drift: float, free: list, rng) -> np.ndarray:
    """Replace ``round(drift * members)`` members by neurons from the free pool.

    Dropped members do not go back to the pool: drift keeps moving away from the first session's members.
    """
    n = max(1, int(round(drift * len(current)))) if drift > 0 else 0
    if n == 0 or not free:
        return current
    out = rng.choice(len(current), n, replace=False)
    incoming = [free.pop(int(rng.integers(len(free)))) for _ in range(min(n, len(free)))]
    current = current.copy()
    current[out[:len(incoming)]] = incoming
    return current


def _swap(ids: np.ndarray, fraction: float, rng) -> np.ndarray:
    """``ids`` with ``round(fraction * n / 2)`` random disjoint pairs exchanged (a fraction of rows wrong)."""
    out = ids.copy()
    n_pairs = int(round(fraction * len(ids) / 2))
    if n_pairs:
        picked = rng.choice(len(ids), 2 * n_pairs, replace=False)
        a, b = picked[:n_pairs], picked[n_pairs:]
        out[a], out[b] = ids[b], ids[a]
    return out


def _simulate(membership: np.ndarray, rates: np.ndarray, n_time: int, n_presentations: int, extra: float,
              participation: float, background: tuple, bin_size: float, rng) -> np.ndarray:
    """Poisson background plus extra spikes of each assembly's members in its activation bins."""
    n_neurons = membership.shape[1]
    base = rng.uniform(background[0], background[1], size=n_neurons)
    counts = rng.poisson(base[:, None, None] * bin_size, size=(n_neurons, n_time, n_presentations))
    whole, frac = int(np.floor(extra)), extra - np.floor(extra)
    for a in range(len(membership)):
        idx = np.flatnonzero(membership[a])
        if rates[a] <= 0 or idx.size == 0:
            continue
        t, p = np.nonzero(rng.random((n_time, n_presentations)) < min(rates[a] * bin_size, 1.0))
        joins = rng.random((len(idx), len(t))) < participation
        spikes = whole + (rng.random((len(idx), len(t))) < frac)
        np.add.at(counts, (idx[:, None], t[None, :], p[None, :]), joins * spikes)
    return counts.astype(np.float32)


def _calcium(values: np.ndarray, bin_size: float, decay_time: float, noise_std: float, rng) -> np.ndarray:
    n_neurons, n_time, n_presentations = values.shape
    flat = values.transpose(0, 2, 1).reshape(n_neurons, -1)
    trace = lfilter([1.0], [1.0, -np.exp(-bin_size / decay_time)], flat, axis=1)
    trace = trace + rng.normal(0.0, noise_std, size=trace.shape)
    return trace.reshape(n_neurons, n_presentations, n_time).transpose(0, 2, 1).astype(np.float32)


def with_registration_error(registry: pd.DataFrame, fraction: float, seed: int = 0) -> pd.DataFrame:
    """``registry`` with ``fraction`` of each session's rows given a wrong global id (ids swapped in pairs)."""
    out = registry.copy()
    for i, (_, rows) in enumerate(out.groupby("session", sort=True).groups.items()):
        ids = out.loc[rows, "global_id"].to_numpy()
        out.loc[rows, "global_id"] = _swap(ids, fraction, np.random.default_rng([seed, i, 2]))
    return out


def split_halves(data: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    """The first and second half of a session's presentations: fitted apart, they give the ceiling."""
    n = data.sizes["presentations"]
    if n < 2:
        raise InputDataError(f"{data.attrs.get('source', 'the data')}: one presentation cannot be split in halves.")
    return data.isel(presentations=slice(0, n // 2)), data.isel(presentations=slice(n // 2, None))


def shuffled_registry(registry: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """The null control: each session's global ids permuted among its rows (identity destroyed, counts kept)."""
    rng = np.random.default_rng(seed)
    out = registry.copy()
    for _, rows in out.groupby("session").groups.items():
        out.loc[rows, "global_id"] = rng.permutation(out.loc[rows, "global_id"].to_numpy())
    return out


def write_sessions_nwb(truth: SessionsTruth, folder, *, column: str = "global_id", overwrite: bool = False,
                       seed: int = 0) -> list[Path]:
    """Write each session as a real NWB file (pynwb): a Units table with the local ids and a global-id column.

    The spike counts become spike times at uniform random moments inside their bins; presentations are a
    trials table. ``nwb_sae.Registry.from_nwb_column(paths, column=column)`` reads the registry back.
    """
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.file import Subject
    from pynwb.misc import Units

    from nwb_sae.errors import OutputExistsError
    from nwb_sae.io.safe_write import atomic_write

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for s, (name, data) in enumerate(truth.data.items()):
        path = folder / f"{name}.nwb"
        if path.exists() and not overwrite:
            raise OutputExistsError(f"{path}: exists; pass overwrite=True to replace it.")
        bin_size = float(data.attrs["bin_size"])
        counts = np.asarray(data.transpose("neurons", "presentations", "time").values)
        n_neurons, n_presentations, n_time = counts.shape
        flat = counts.reshape(n_neurons, -1).round().clip(0).astype(np.int64)
        nwbfile = NWBFile(
            session_description=f"nwb-sae synthetic session {name} of a neuron pool with tracked assemblies",
            identifier=f"nwb-sae-sessions-{truth.data[name].attrs.get('seed', 0)}-{name}",
            session_start_time=datetime.datetime(2024, 1, 1 + s, 9, tzinfo=datetime.timezone.utc),
            session_id=name, source_script="nwb_sae.synthetic.write_sessions_nwb",
            source_script_file_name="nwb_sae/synthetic/sessions.py",
            subject=Subject(subject_id="synthetic-pool", species="Mus musculus", age="P90D", sex="U"),
        )
        nwbfile.units = Units(name="units", description="simulated Poisson spike trains", resolution=1e-9)
        nwbfile.add_unit_column(name=column, description="cross-session neuron id from the registry")
        starts = np.arange(flat.shape[1]) * bin_size
        for i, unit in enumerate(np.asarray(data["neurons"].values)):
            times = np.repeat(starts, flat[i]) + rng.uniform(0.0, bin_size, size=int(flat[i].sum()))
            nwbfile.add_unit(spike_times=np.sort(times), id=int(unit), **{column: str(data["global_id"].values[i])})
        for p in range(n_presentations):
            nwbfile.add_trial(start_time=p * n_time * bin_size, stop_time=(p + 1) * n_time * bin_size)

        def write(tmp: str, nwbfile=nwbfile) -> None:
            with NWBHDF5IO(tmp, mode="w") as io:
                io.write(nwbfile)

        paths.append(atomic_write(path, write))
    return paths
