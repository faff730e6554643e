"""Planted cell assemblies in binned spike trains: the field's standard ground truth.

Every neuron fires as an independent Poisson process at its own background rate. Each assembly (a
set of member neurons) is activated at random moments; in an activation bin every participating member
fires extra spikes. Assemblies may share members (overlap), outnumber the neurons, or be absent
(independent neurons). Some assemblies are stimulus-locked: they activate more often during
presentations of one stimulus. A calcium-like variant convolves the spike counts with an exponential
kernel and adds Gaussian noise.

This is the validation used by Lopes-dos-Santos, Ribeiro & Tort (2013, J Neurosci Methods 220:149)
and Mölter, Avitan & Goodhill (2018, BMC Biol 16:143). Use :func:`make_assemblies`, reached through
``nwb_sae.synthetic``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import xarray as xr
from scipy.signal import lfilter

from nwb_sae.errors import InputDataError
from nwb_sae.io.recording.arrays import ACTIVITY_DIMS


@dataclass
class AssemblyRecording:
    """A spiking (or calcium-like) recording with planted cell assemblies."""

    data: xr.DataArray
    """Activity, dims (neurons, time, presentations); ``time`` in seconds from presentation onset;
    presentations are consecutive and carry a ``stimulus`` coordinate. Spike counts per bin for
    ``kind='poisson'``, fluorescence-like traces for ``kind='calcium'``."""
    assemblies: np.ndarray
    """The planted atoms, (assemblies, neurons): each row is the member indicator divided by
    sqrt(members), so unit-norm and non-negative."""
    members: list[np.ndarray] = field(default_factory=list)
    """Sorted member indices of each assembly."""
    activations: xr.DataArray | None = None
    """Activation events, dims (latents, time, presentations): 1 where the assembly fired, else 0."""
    selective: dict[int, str] = field(default_factory=dict)
    """Stimulus-locked assemblies: assembly index -> the stimulus label it prefers."""
    background_rates: np.ndarray | None = None
    """Background firing rate of each neuron in Hz."""

    @property
    def mean_overlap(self) -> float:
        """Mean number of neurons shared by a pair of assemblies (nan with fewer than two)."""
        if len(self.members) < 2:
            return float("nan")
        ind = (self.assemblies > 0).astype(int)
        shared = ind @ ind.T
        return float(shared[np.triu_indices(len(self.members), k=1)].mean())


def _draw_members(n_neurons: int, sizes: np.ndarray, overlap: float | None,
                  rng: np.random.Generator) -> list[np.ndarray]:
    if sizes.min() < 2 or sizes.max() > n_neurons:
        raise InputDataError(f"members={sizes.tolist()}: an assembly needs between 2 and n_neurons={n_neurons} "
                             "neurons; change members or n_neurons.")
    if overlap == 0:
        if sizes.sum() > n_neurons:
            raise InputDataError(
                f"{len(sizes)} disjoint assemblies need {sizes.sum()} neurons but n_neurons={n_neurons}; "
                "pass overlap=None (random members) or a positive overlap.")
        bounds = np.concatenate([[0], np.cumsum(sizes)])
        order = rng.permutation(n_neurons)
        return [np.sort(order[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    typical = float(sizes.mean())
    pool_size = n_neurons if overlap is None else int(np.clip(round(typical**2 / overlap), sizes.max(), n_neurons))
    pool = rng.choice(n_neurons, size=pool_size, replace=False)
    drawn: list[np.ndarray] = []
    seen: set[tuple[int, ...]] = set()
    for _ in range(100 * len(sizes)):
        if len(drawn) == len(sizes):
            break
        idx = np.sort(rng.choice(pool, size=int(sizes[len(drawn)]), replace=False))
        if tuple(idx) not in seen:  # two identical assemblies could never be told apart
            seen.add(tuple(idx))
            drawn.append(idx)
    if len(drawn) < len(sizes):
        raise InputDataError(f"cannot draw {len(sizes)} distinct assemblies of {typical:g} members from "
                             f"{pool_size} neurons; lower overlap or n_assemblies.")
    return drawn


def make_assemblies(
    n_neurons: int = 100,
    n_assemblies: int = 8,
    members: int | Sequence[int] = 10,
    overlap: float | None = 0.0,
    activation_rate: float = 1.0,
    extra_spikes: float = 1.0,
    participation: float = 1.0,
    background_rate: tuple[float, float] = (1.0, 5.0),
    bin_size: float = 0.025,
    duration: float = 600.0,
    n_presentations: int = 100,
    n_stimuli: int = 2,
    n_selective: int | None = None,
    selectivity: float = 4.0,
    kind: str = "poisson",
    decay_time: float = 0.5,
    noise_std: float = 0.2,
    seed: int = 0,
) -> AssemblyRecording:
    """Simulate binned spike trains (or calcium-like traces) with planted cell assemblies.

    Parameters
    ----------
    n_neurons : int
        Number of recorded neurons.
    n_assemblies : int
        Number of planted assemblies; 0 gives independent neurons (no assembly at all).
    members : int or sequence of int
        Neurons per assembly (one number for all, or one per assembly).
    overlap : float or None
        Mean number of neurons shared by a pair of assemblies. 0: disjoint assemblies (an error if
        ``n_assemblies * members > n_neurons``). A positive value: members are drawn uniformly from a
        random pool of ``round(members**2 / overlap)`` neurons (mean size if sizes differ) (clipped to [members, n_neurons]), which
        makes the expected shared count per pair ``overlap``. None: members drawn from all neurons
        (expected overlap ``members**2 / n_neurons``), e.g. for more assemblies than neurons. The
        realised value is :attr:`AssemblyRecording.mean_overlap`.
    activation_rate : float
        Activation events per second of each assembly (outside its preferred stimulus, if selective).
        An event occupies one time bin.
    extra_spikes : float
        Spikes added to each participating member in an activation bin: ``floor(extra_spikes)`` plus
        one more with probability equal to the fractional part (mean ``extra_spikes``).
    participation : float
        Probability that a member joins a given activation event (1: all members fire together).
    background_rate : (float, float)
        Range (Hz) of the neurons' background Poisson rates, drawn uniformly per neuron.
    bin_size : float
        Seconds per time bin (the field uses 10-50 ms).
    duration : float
        Total recording length in seconds; split into ``n_presentations`` consecutive presentations of
        ``round(duration / bin_size / n_presentations)`` bins each.
    n_presentations : int
        Number of presentations (trials), laid end to end.
    n_stimuli : int
        Number of stimulus labels (``"S0"``, ``"S1"``, ...), assigned to presentations in a balanced
        random order.
    n_selective : int, optional
        Number of stimulus-locked assemblies (default: half of them, rounded down). Assembly ``i`` of
        them prefers stimulus ``i % n_stimuli``.
    selectivity : float
        Factor multiplying a stimulus-locked assembly's activation rate during its preferred stimulus.
    kind : {'poisson', 'calcium'}
        'poisson': spike counts per bin. 'calcium': counts convolved with ``exp(-t / decay_time)``
        (one unit per spike) plus Gaussian noise of standard deviation ``noise_std``, as from a
        calcium indicator imaged at ``1 / bin_size`` Hz.
    decay_time : float
        Decay time constant (s) of the calcium kernel.
    noise_std : float
        Standard deviation of the calcium-like variant's Gaussian noise, in units of one spike's peak.
    seed : int
        Seed of everything random; the same seed gives the same recording.

    Returns
    -------
    AssemblyRecording

    Examples
    --------
    >>> rec = make_assemblies(n_neurons=30, n_assemblies=3, members=5, duration=60, n_presentations=10)
    >>> rec.data.dims, rec.data.shape, rec.assemblies.shape
    (('neurons', 'time', 'presentations'), (30, 240, 10), (3, 30))
    >>> [len(m) for m in rec.members]
    [5, 5, 5]
    """
    if kind not in ("poisson", "calcium"):
        raise InputDataError(f"kind must be 'poisson' or 'calcium', got {kind!r}.")
    if n_neurons < 1 or n_assemblies < 0 or n_presentations < 1 or n_stimuli < 1:
        raise InputDataError("n_neurons, n_presentations and n_stimuli must be positive and n_assemblies >= 0.")
    n_time = int(round(duration / bin_size / n_presentations))
    if n_time < 1:
        raise InputDataError(f"duration={duration} s at bin_size={bin_size} s gives less than one bin per "
                             f"presentation for n_presentations={n_presentations}; lengthen duration.")
    peak_p = activation_rate * bin_size * max(selectivity, 1.0)
    if peak_p > 1:
        raise InputDataError(f"activation_rate * bin_size * selectivity = {peak_p:.2f} > 1 event per bin; "
                             "lower activation_rate or selectivity, or use smaller bins.")
    rng = np.random.default_rng(seed)
    sizes = np.broadcast_to(np.asarray(members, dtype=int), (n_assemblies,))
    member_sets = _draw_members(n_neurons, sizes, overlap, rng) if n_assemblies else []
    atoms = np.zeros((n_assemblies, n_neurons))
    for i, idx in enumerate(member_sets):
        atoms[i, idx] = 1.0 / np.sqrt(len(idx))

    labels = np.array([f"S{i}" for i in range(n_stimuli)])
    stimulus = labels[rng.permutation(np.arange(n_presentations) % n_stimuli)]
    n_selective = n_assemblies // 2 if n_selective is None else min(n_selective, n_assemblies)
    selective = {i: str(labels[i % n_stimuli]) for i in range(n_selective)}

    # probability of an event per (assembly, presentation), then per bin
    p_event = np.full((n_assemblies, n_presentations), activation_rate * bin_size)
    for i, label in selective.items():
        p_event[i, stimulus == label] *= selectivity
    events = rng.random((n_assemblies, n_time, n_presentations)) < p_event[:, None, :]

    rates = rng.uniform(background_rate[0], background_rate[1], size=n_neurons)
    counts = rng.poisson(rates[:, None, None] * bin_size, size=(n_neurons, n_time, n_presentations))
    whole, frac = int(np.floor(extra_spikes)), extra_spikes - np.floor(extra_spikes)
    for i, idx in enumerate(member_sets):
        a, p = np.nonzero(events[i])
        joins = rng.random((len(idx), len(a))) < participation
        extra = whole + (rng.random((len(idx), len(a))) < frac)
        np.add.at(counts, (idx[:, None], a[None, :], p[None, :]), joins * extra)

    values = counts.astype(np.float32)
    if kind == "calcium":
        # one continuous recording: presentations end to end, so transients carry over trial borders
        flat = values.transpose(0, 2, 1).reshape(n_neurons, -1)
        trace = lfilter([1.0], [1.0, -np.exp(-bin_size / decay_time)], flat, axis=1)
        trace = trace + rng.normal(0.0, noise_std, size=trace.shape)
        values = trace.reshape(n_neurons, n_presentations, n_time).transpose(0, 2, 1).astype(np.float32)

    coords = {"neurons": np.arange(n_neurons), "time": np.arange(n_time) * bin_size,
              "presentations": np.arange(n_presentations), "stimulus": ("presentations", stimulus)}
    data = xr.DataArray(values, dims=ACTIVITY_DIMS, coords=coords, name="activity",
                        attrs={"source": "nwb_sae.synthetic.make_assemblies", "bin_size": bin_size,
                               "kind": kind, "seed": seed, "presentations": "consecutive windows",
                               "signal": "fluorescence" if kind == "calcium" else "spikes"})
    act_coords = {k: v for k, v in coords.items() if k != "neurons"}
    act_coords["latents"] = np.arange(n_assemblies)
    activations = xr.DataArray(events.astype(np.float32), dims=("latents", "time", "presentations"),
                               coords=act_coords, name="planted_activations")
    return AssemblyRecording(data, atoms, member_sets, activations, selective, rates)


def lopes_dos_santos_toy(seed: int = 0, **overrides) -> AssemblyRecording:
    """The toy case of Lopes-dos-Santos, Ribeiro & Tort (2013): 20 neurons, two small assemblies.

    Modelled on the example that accompanies their assembly-detection code: 20 Poisson neurons firing
    about one spike per bin, and two disjoint assemblies of 4 and 3 members, each active in about 5% of
    the bins, in which their members fire about ten times their usual count. Here: 10,000 bins of
    25 ms at 40 Hz background, 2 events/s per assembly, 9 extra spikes per member and event.

    Parameters
    ----------
    seed : int
        Seed of everything random.
    **overrides
        Any other :func:`make_assemblies` setting (e.g. ``kind='calcium'``).

    Returns
    -------
    AssemblyRecording
    """
    settings = dict(n_neurons=20, n_assemblies=2, members=(4, 3), activation_rate=2.0, extra_spikes=9.0,
                    background_rate=(40.0, 40.0), bin_size=0.025, duration=250.0, n_presentations=50,
                    n_selective=0, seed=seed)
    settings.update(overrides)
    return make_assemblies(**settings)
