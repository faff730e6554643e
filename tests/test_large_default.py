"""Large recordings without flags: the default ``nwb-sae train`` reads a large NWB series lazily and the default
ensemble fit runs in memory on a seeded subsample of its presentations (or time blocks).

"Large" is shrunk to a few hundred kB by monkeypatching :data:`nwb_sae.io.IN_MEMORY_BYTES` (what ``load_data``
decides by) and :data:`nwb_sae.training.streaming.IN_MEMORY_BYTES` (what the fit decides by), so the files stay small.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import numpy as np
import pytest
import xarray as xr

from nwb_sae import io
from nwb_sae.estimator import SAE, load
from nwb_sae.io import load_data
from nwb_sae.io.recording.nwb import read_nwb
from nwb_sae.training import streaming
from nwb_sae.training.streaming import is_lazy, subsample_presentations

N_CHANNELS, N_SAMPLES, RATE = 8, 20_000, 1000.0
LIMIT = N_CHANNELS * 100 * 60 * 4
"""The monkeypatched size rule: 60 of the 200 default windows (100 samples each) fit."""


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    """A continuous 8-channel NWB TimeSeries (sparse planted ensembles plus noise), as pynwb writes it."""
    from hdmf.backends.hdf5 import H5DataIO
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries

    rng = np.random.default_rng(0)
    atoms = rng.random((4, N_CHANNELS)) * (rng.random((4, N_CHANNELS)) < 0.5)
    codes = rng.exponential(1.0, (N_SAMPLES, 4)) * (rng.random((N_SAMPLES, 4)) < 0.1)
    x = (codes @ atoms + 0.1 * rng.standard_normal((N_SAMPLES, N_CHANNELS))).astype(np.float32)
    nwb = NWBFile(session_description="large default", identifier="large-default",
                  session_start_time=datetime(2026, 1, 1, tzinfo=timezone.utc))
    nwb.add_acquisition(TimeSeries(name="activity", unit="a.u.", rate=RATE,
                                   data=H5DataIO(x, chunks=(4096, N_CHANNELS), compression="gzip")))
    path = tmp_path_factory.mktemp("large") / "series.nwb"
    with NWBHDF5IO(str(path), "w") as nwb_io:
        nwb_io.write(nwb)
    return path


@pytest.fixture
def small_limit(monkeypatch):
    monkeypatch.setattr(io, "IN_MEMORY_BYTES", LIMIT)
    monkeypatch.setattr(streaming, "IN_MEMORY_BYTES", LIMIT)


def test_load_data_keeps_a_large_nwb_lazy_and_loads_a_small_one(series, monkeypatch):
    assert not is_lazy(load_data(series))  # 640 kB: read into memory
    monkeypatch.setattr(io, "IN_MEMORY_BYTES", LIMIT)
    lazy = load_data(series)
    assert is_lazy(lazy) and lazy.shape == (N_CHANNELS, 100, N_SAMPLES // 100)
    assert not is_lazy(load_data(series, lazy=False))
    np.testing.assert_array_equal(lazy.values, load_data(series, lazy=False).values)


def test_default_train_fits_a_subsample_of_a_large_nwb_series_and_writes_its_outputs(series, tmp_path, small_limit,
                                                                                     capsys):
    from nwb_sae.cli import main

    out = tmp_path / "run"
    assert main(["train", "--data_path", str(series), "--output_dir", str(out), "--embedding_dim", "8",
                 "--epochs", "2", "--seed", "3", "--device", "cpu", "--threads", "1", "--quiet"]) == 0
    assert "random subsample of 6000 of 20000 samples (60 of 200 presentations)" in capsys.readouterr().out
    for name in ("checkpoints/best_model.safetensors", "checkpoints/best_model.json", "metrics.json",
                 "history.json", "figures/history.png"):
        assert (out / name).exists(), name
    sae = load(out / "checkpoints" / "best_model")
    attrs = sae.data_attrs_
    assert attrs["subsample"] is True and attrs["subsample_unit"] == "presentations"
    assert attrs["subsample_samples"] == 6000 and attrs["recording_samples"] == N_SAMPLES
    assert attrs["subsample_samples"] * N_CHANNELS * 4 <= LIMIT  # the bound
    assert attrs["subsample_presentations"] == attrs["n_presentations"] == 60
    assert attrs["train_presentations"] + attrs["val_presentations"] == 60 and attrs["val_presentations"] > 0
    assert sae.latent_table_ is not None and len(sae.significant_) == sae.model_.n_latents == 8
    assert np.isfinite(json.loads((out / "metrics.json").read_text())["fvu"])

    import nwb_sae

    written = nwb_sae.write_nwb(sae, series, tmp_path / "series_sae.nwb", progress=False)  # read blockwise
    assert nwb_sae.read_results(written, lazy=False).codes.shape == (N_SAMPLES // 100 * 100, 8)


def test_the_subsample_cuts_few_long_presentations_into_time_blocks(series, small_limit):
    data = read_nwb(series, window=(0.0, 5.0), lazy=True)  # 4 presentations of 5000 samples
    sae = SAE(n_latents=8, k=2, epochs=1, seed=1, progress=False, device="cpu", threads=1).fit(data)
    attrs = sae.data_attrs_
    length = LIMIT // (4 * N_CHANNELS) // streaming.MIN_SUBSAMPLE_UNITS  # 120 bins: 50 blocks fit
    assert attrs["subsample_unit"] == f"blocks of {length} bins"
    assert attrs["n_time"] == length and attrs["subsample_presentations"] == attrs["n_presentations"] == 50
    assert attrs["subsample_samples"] == 50 * length and attrs["subsample_samples"] * N_CHANNELS * 4 <= LIMIT
    assert attrs["recording_samples"] == N_SAMPLES and attrs["recording_presentations"] == 4


@pytest.mark.parametrize("chunk", [None, 7])
def test_subsample_takes_whole_presentations_or_blocks_with_their_values_and_coordinates(chunk):
    values = np.random.default_rng(0).random((3, 40, 25)).astype(np.float32)
    data = xr.DataArray(values, dims=("neurons", "time", "presentations"),
                        coords={"presentations": np.arange(100, 125), "time": np.arange(40) * 0.1,
                                "stimulus": ("presentations", np.arange(25) % 3)}, attrs={"source": "rec"})
    data = data.chunk({"presentations": chunk}) if chunk else data

    whole = subsample_presentations(data, max_bytes=3 * 40 * 6 * 4, seed=1, min_units=5)
    assert not is_lazy(whole) and whole.sizes["presentations"] == 6 and whole.attrs["source"] == "rec"
    ids = whole["presentations"].values
    np.testing.assert_array_equal(whole.values, values[:, :, ids - 100])
    np.testing.assert_array_equal(whole["stimulus"].values, (ids - 100) % 3)
    assert list(ids) == sorted(ids)

    blocks = subsample_presentations(data, max_bytes=3 * 80 * 4, seed=1, min_units=5)  # 80 samples: 5 x 16 bins
    assert blocks.sizes["time"] == 16 and blocks.sizes["presentations"] == 5
    assert blocks.attrs["subsample_unit"] == "blocks of 16 bins" and blocks.attrs["subsample_samples"] == 80
    for p in range(5):
        owner, start = int(blocks["source_presentation"][p]) - 100, int(blocks["block_start"][p])
        np.testing.assert_array_equal(blocks.values[:, :, p], values[:, start:start + 16, owner])
        assert int(blocks["stimulus"][p]) == owner % 3
    assert subsample_presentations(data, max_bytes=values.nbytes, seed=0).sizes["presentations"] == 25
    again = subsample_presentations(data, max_bytes=3 * 40 * 6 * 4, seed=1, min_units=5)
    np.testing.assert_array_equal(again["presentations"].values, ids)  # seeded
