"""Continuous ground truth: planted neuron ensembles with sparse, trial-structured activity.

The data are ``x[:, t, p] = sum_i a_i(t, p) * d_i + noise`` where each atom ``d_i`` is a unit-norm,
non-negative pattern over a small set of member neurons (an ensemble), and the activations ``a_i`` are
sparse and non-negative: a few ensembles are active in each time bin, preferably those tuned to the
presentation's condition, with a bump in time after stimulus onset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from nwb_sae.io.recording.arrays import ACTIVITY_DIMS


@dataclass
class SyntheticRecording:
    """A recording with a known answer."""

    data: xr.DataArray
    """Activity, dims (neurons, time, presentations); presentations carry a ``condition`` coordinate."""
    dictionary: np.ndarray
    """The planted atoms, shaped (atoms, neurons), unit-norm rows."""
    codes: xr.DataArray
    """The planted activations, dims (latents, time, presentations)."""
    noise_std: float
    """Standard deviation of the added Gaussian noise."""


def make_ensembles(n_neurons: int, n_atoms: int, members: int, rng: np.random.Generator) -> np.ndarray:
    """Random non-negative unit-norm atoms, each over ``members`` randomly chosen neurons."""
    atoms = np.zeros((n_atoms, n_neurons))
    for i in range(n_atoms):
        idx = rng.choice(n_neurons, size=members, replace=False)
        atoms[i, idx] = np.abs(rng.normal(1.0, 0.3, size=members)) + 0.1
    return atoms / np.linalg.norm(atoms, axis=1, keepdims=True)


def make_recording(
    n_neurons: int = 64,
    n_atoms: int = 256,
    n_time: int = 50,
    n_presentations: int = 400,
    active: tuple[int, int] = (3, 8),
    snr_db: float = 10.0,
    members: int | None = None,
    n_conditions: int = 8,
    bin_size: float = 0.05,
    seed: int = 0,
) -> SyntheticRecording:
    """Simulate a trial-structured recording with planted ensembles.

    Parameters
    ----------
    n_neurons, n_atoms : int
        Size of the population and number of planted ensembles.
    n_time, n_presentations : int
        Time bins per presentation and number of presentations (trials).
    active : (int, int)
        Inclusive range of the number of ensembles active in each time bin.
    snr_db : float
        Signal-to-noise ratio in decibels (signal power over noise power, per element).
    members : int, optional
        Neurons per ensemble (default ``max(4, n_neurons // 8)``).
    n_conditions : int
        Number of stimulus conditions; each prefers its own subset of ensembles.
    bin_size : float
        Seconds per time bin; time runs from ``-0.2 * n_time * bin_size`` (pre-stimulus baseline).
    seed : int
        Seed of everything random.

    Returns
    -------
    SyntheticRecording

    Examples
    --------
    >>> rec = make_recording(n_neurons=16, n_atoms=32, n_time=10, n_presentations=20)
    >>> rec.data.dims, rec.dictionary.shape
    (('neurons', 'time', 'presentations'), (32, 16))
    """
    rng = np.random.default_rng(seed)
    members = members or max(4, n_neurons // 8)
    dictionary = make_ensembles(n_neurons, n_atoms, members, rng)

    condition = rng.integers(0, n_conditions, size=n_presentations)
    preferred = np.stack([rng.choice(n_atoms, size=max(1, n_atoms // n_conditions), replace=False)
                          for _ in range(n_conditions)])
    onset = int(0.2 * n_time)
    time = (np.arange(n_time) - onset) * bin_size
    # After onset, half the probability mass of choosing an ensemble goes to the condition's preferred ones.
    gain = np.where(np.arange(n_time) >= onset, 1.0, 0.0)

    n_samples = n_time * n_presentations
    n_active = rng.integers(active[0], active[1] + 1, size=n_samples)
    cond_of_sample = np.repeat(condition[None, :], n_time, axis=0).ravel()
    gain_of_sample = np.repeat(gain[:, None], n_presentations, axis=1).ravel()
    codes = np.zeros((n_samples, n_atoms), dtype=np.float32)
    chunk = 20000
    for start in range(0, n_samples, chunk):
        stop = min(start + chunk, n_samples)
        m = stop - start
        logits = np.zeros((m, n_atoms))
        boost = np.zeros((m, n_atoms))
        np.put_along_axis(boost, preferred[cond_of_sample[start:stop]], 1.0, axis=1)
        logits += np.log1p(boost * 3.0 * gain_of_sample[start:stop, None])
        keys = logits + rng.gumbel(size=(m, n_atoms))  # Gumbel top-k: weighted sampling without replacement
        order = np.argsort(-keys, axis=1)[:, : active[1]]
        amplitude = rng.uniform(0.5, 1.5, size=(m, active[1]))
        amplitude[np.arange(active[1])[None, :] >= n_active[start:stop, None]] = 0.0
        np.put_along_axis(codes[start:stop], order, amplitude.astype(np.float32), axis=1)

    signal = codes @ dictionary.astype(np.float32)
    noise_std = float(np.sqrt(np.mean(signal**2) / 10 ** (snr_db / 10)))
    x = signal + rng.normal(0.0, noise_std, size=signal.shape).astype(np.float32)

    # samples were laid out (time, presentations); arrays are (neurons, time, presentations)
    x = x.reshape(n_time, n_presentations, n_neurons).transpose(2, 0, 1)
    codes = codes.reshape(n_time, n_presentations, n_atoms).transpose(2, 0, 1)
    coords = {
        "neurons": np.arange(n_neurons),
        "time": time,
        "presentations": np.arange(n_presentations),
        "condition": ("presentations", condition),
    }
    data = xr.DataArray(x.astype(np.float32), dims=ACTIVITY_DIMS, coords=coords, name="activity",
                        attrs={"source": "nwb_sae.synthetic", "bin_size": bin_size, "snr_db": snr_db,
                               "seed": seed})
    code_coords = dict(coords, latents=np.arange(n_atoms))
    del code_coords["neurons"]
    codes_da = xr.DataArray(codes, dims=("latents", "time", "presentations"), coords=code_coords,
                            name="true_codes")
    return SyntheticRecording(data, dictionary, codes_da, noise_std)


def _roi_masks(n_rois: int, radius: int = 3) -> np.ndarray:
    """Disk-shaped image masks on a square grid, one ROI per cell: (n_rois, height, width) float32."""
    side = int(np.ceil(np.sqrt(n_rois)))
    cell = 2 * radius + 3
    size = side * cell
    yy, xx = np.mgrid[0:size, 0:size]
    masks = np.zeros((n_rois, size, size), dtype=np.float32)
    for i in range(n_rois):
        cy, cx = (i // side) * cell + cell // 2, (i % side) * cell + cell // 2
        masks[i] = ((yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2).astype(np.float32)
    return masks


def _add_ophys(nwbfile, continuous: np.ndarray, rate: float, starting_time: float) -> None:
    from pynwb.ophys import DfOverF, ImageSegmentation, OpticalChannel, RoiResponseSeries

    device = nwbfile.create_device(name="Microscope", description="simulated two-photon microscope")
    channel = OpticalChannel(name="OpticalChannel", description="green", emission_lambda=510.0)
    plane = nwbfile.create_imaging_plane(
        name="ImagingPlane", optical_channel=channel, description="simulated plane", device=device,
        excitation_lambda=920.0, indicator="GCaMP (simulated)", location="VISp", imaging_rate=rate,
    )
    segmentation = ImageSegmentation(name="ImageSegmentation")
    planes = segmentation.create_plane_segmentation(
        name="PlaneSegmentation", description="one disk per simulated neuron", imaging_plane=plane,
    )
    for mask in _roi_masks(continuous.shape[1]):
        planes.add_roi(image_mask=mask)
    module = nwbfile.create_processing_module(name="ophys", description="simulated optical physiology")
    module.add(segmentation)
    dff = DfOverF(name="DfOverF")
    module.add(dff)
    rois = planes.create_roi_table_region(description="all ROIs", region=list(range(continuous.shape[1])))
    dff.add_roi_response_series(RoiResponseSeries(
        name="RoiResponseSeries", data=continuous, unit="a.u.", rois=rois, rate=rate, starting_time=starting_time,
        description="planted ensembles plus Gaussian noise (nwb_sae.synthetic)",
    ))


def _add_units(nwbfile, continuous: np.ndarray, bin_size: float, starting_time: float, max_rate: float,
               rng: np.random.Generator) -> None:
    from pynwb.misc import Units

    if continuous.min() >= 0 and np.array_equal(continuous, np.round(continuous)):
        counts = continuous.astype(np.int64)  # already spike counts (make_assemblies): keep them exactly
    else:
        positive = np.clip(continuous, 0.0, None)
        rates = positive * (max_rate / max(float(positive.max()), 1e-12))
        counts = rng.poisson(rates * bin_size)
    bin_starts = starting_time + np.arange(continuous.shape[0]) * bin_size
    # spike times are drawn as continuous floats: their precision is that of float64
    nwbfile.units = Units(name="units", description="simulated Poisson spike trains", resolution=1e-9)
    nwbfile.add_unit_column(name="location", description="simulated brain area")
    for unit in range(continuous.shape[1]):
        n = counts[:, unit]
        times = np.repeat(bin_starts, n) + rng.uniform(0.0, bin_size, size=int(n.sum()))
        nwbfile.add_unit(spike_times=np.sort(times), id=unit, location="VISp")


def write_nwb_recording(path, recording: SyntheticRecording | None = None, kind: str = "ophys", *,
                        starting_time: float = 0.0, max_rate: float = 40.0, seed: int = 0,
                        overwrite: bool = False):
    """Write a synthetic recording as a real NWB file (pynwb), with a trials table.

    The presentations of ``recording.data`` are laid end to end as one continuous recording sampled
    every ``bin_size`` seconds. Trial ``p`` has ``start_time`` at its stimulus onset (time 0 of
    ``recording.data``), ``stop_time`` at the end of its last bin and a ``condition`` column, so that
    ``read_nwb(path, presentations="trials", window=(t[0], t[-1] + bin_size))`` gives back
    ``recording.data`` exactly (ophys) or as spike counts (units).

    Parameters
    ----------
    path : str or Path
        The ``.nwb`` file to write.
    recording : SyntheticRecording or AssemblyRecording, optional
        From :func:`make_recording` or :func:`make_assemblies` (default: ``make_recording()``). Every
        other per-presentation coordinate (e.g. ``stimulus``) becomes a trials column too.
    kind : {'ophys', 'units'}
        'ophys': a RoiResponseSeries in ``processing/ophys/DfOverF`` over a PlaneSegmentation with one
        disk-shaped image mask per neuron. 'units': a Units table whose spike times are Poisson with
        rates proportional to the positive part of the activity (peak ``max_rate`` Hz), or, when the
        activity already holds spike counts (non-negative integers, as from :func:`make_assemblies`),
        exactly those counts, each spike at a uniform random time inside its bin.
    starting_time : float
        Time of the first sample in seconds.
    max_rate : float
        Peak firing rate for ``kind='units'``.
    seed : int
        Seed of the spike generator.
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> rec = make_recording(n_neurons=8, n_atoms=16, n_time=10, n_presentations=6)
    >>> path = write_nwb_recording(tmp_path / "rec.nwb", rec)   # doctest: +SKIP
    """
    import datetime
    from pathlib import Path

    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.file import Subject

    from nwb_sae.errors import InputDataError, OutputExistsError
    from nwb_sae.io.safe_write import atomic_write

    path = Path(path)
    if kind not in ("ophys", "units"):
        raise InputDataError(f"kind must be 'ophys' or 'units', got {kind!r}.")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path}: exists; pass overwrite=True to replace it.")
    rec = recording if recording is not None else make_recording()
    data = rec.data.transpose(*ACTIVITY_DIMS)
    n_neurons, n_time, n_presentations = data.shape
    bin_size = float(data.attrs.get("bin_size", float(data.time[1] - data.time[0])))
    onset = int(round(-float(data.time[0]) / bin_size))
    # presentation-major: samples p * n_time ... (p + 1) * n_time - 1 belong to presentation p
    continuous = np.ascontiguousarray(data.values.transpose(2, 1, 0).reshape(-1, n_neurons), dtype=np.float32)

    nwbfile = NWBFile(
        session_description="nwb-sae synthetic recording with planted neuron ensembles",
        identifier=f"nwb-sae-synthetic-{kind}-{rec.data.attrs.get('seed', seed)}",
        session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
        source_script="nwb_sae.synthetic.write_nwb_recording",
        source_script_file_name="nwb_sae/synthetic/continuous.py",
        experimenter=["Synthetic, Nwbsae"],
        experiment_description="ground truth for sparse dictionary learning: planted neuron ensembles",
        institution="nwb-sae",
        keywords=["synthetic", "neuron ensembles", "sparse autoencoder"],
        subject=Subject(subject_id="synthetic", species="Mus musculus", age="P90D", sex="U",
                        description="simulated animal"),
    )
    if kind == "ophys":
        _add_ophys(nwbfile, continuous, 1.0 / bin_size, starting_time)
    else:
        _add_units(nwbfile, continuous, bin_size, starting_time, max_rate, np.random.default_rng(seed))
    nwbfile.add_trial_column(name="condition", description="stimulus condition (planted tuning)")
    condition = data.coords["condition"].values if "condition" in data.coords else np.zeros(n_presentations, int)
    labels = {name: c.values for name, c in data.coords.items()
              if c.dims == ("presentations",) and name not in ("presentations", "condition")}
    for name in labels:
        nwbfile.add_trial_column(name=name, description=f"presentation label {name!r} (nwb_sae.synthetic)")
    for p in range(n_presentations):
        onset_time = starting_time + (p * n_time + onset) * bin_size
        nwbfile.add_trial(start_time=onset_time, stop_time=onset_time + (n_time - onset) * bin_size,
                          condition=int(condition[p]),
                          **{name: values[p].item() for name, values in labels.items()})

    def write(tmp: str) -> None:
        with NWBHDF5IO(tmp, mode="w") as io:
            io.write(nwbfile)

    return atomic_write(path, write)

