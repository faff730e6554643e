"""Defaults that work on common recordings (issue 12, item 3), on real files written with numpy/pynwb.

- a 2-D [neurons, time] array file is cut into consecutive windows (the default length of a continuous
  NWB series; --window applies);
- constant and all-NaN neurons are dropped with one warning that names them, recorded in the model,
  and the same neurons are used at inference and write-back;
- an event-time series (irregular timestamps) aligned to trials is refused as "not a sampled signal".
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import warnings

import h5py
import numpy as np
import pytest
import xarray as xr

from nwb_sae.cli import main
from nwb_sae.errors import InputDataError
from nwb_sae.io import load_data
from nwb_sae.io.align import DEFAULT_WINDOW_SAMPLES
from nwb_sae.io.recording.nwb import read_nwb
from nwb_sae.samples import STD_FLOOR, fit_normalization
from nwb_sae.synthetic import make_recording, write_nwb_recording

FAST = ["--epochs", "2", "--n_latents", "16", "--k", "2", "--no-progress"]
"""Training flags that keep the CLI tests short (the reading and neuron defaults are what is tested)."""


# -- 2-D [neurons, time] files ----------------------------------------------------------------------

def test_2d_npy_is_cut_into_consecutive_windows_like_a_continuous_series(tmp_path):
    values = np.random.default_rng(0).normal(size=(6, 1050)).astype(np.float32)
    np.save(tmp_path / "rec.npy", values)
    da = load_data(tmp_path / "rec.npy")
    assert dict(da.sizes) == {"neurons": 6, "time": DEFAULT_WINDOW_SAMPLES, "presentations": 10}
    np.testing.assert_array_equal(da.isel(presentations=3).values, values[:, 300:400])
    assert da.attrs["presentations"] == "consecutive windows" and "50 trailing sample(s)" in da.attrs["alignment"]
    short = load_data(tmp_path / "rec.npy", window=(0, 50))  # --window sets the length (samples: no time base)
    assert short.sizes["presentations"] == 21
    np.testing.assert_array_equal(short.isel(presentations=20).values, values[:, 1000:1050])
    with pytest.raises(InputDataError, match="does not fit the recording of 1050 samples"):
        load_data(tmp_path / "rec.npy", window=(0, 2000))


def test_2d_netcdf_with_a_time_base_and_plain_hdf5_follow_the_same_rule(tmp_path):
    values = np.arange(3 * 400, dtype=np.float32).reshape(3, 400)
    xr.DataArray(values, dims=("neurons", "time"), coords={"time": 10.0 + np.arange(400) * 0.05,
                                                           "neurons": [5, 6, 7]}).to_netcdf(tmp_path / "rec.nc")
    da = load_data(tmp_path / "rec.nc", window=(0, 2.0))  # seconds: the file has a regular time coordinate
    assert dict(da.sizes) == {"neurons": 3, "time": 40, "presentations": 10}
    assert da["neurons"].values.tolist() == [5, 6, 7] and da.attrs["bin_size"] == pytest.approx(0.05)
    np.testing.assert_allclose(da["start_time"].values[:2], [10.0, 12.0])
    with h5py.File(tmp_path / "rec.h5", "w") as f:
        f["dff"] = values
    assert load_data(tmp_path / "rec.h5").sizes["presentations"] == 4


def test_window_on_a_3d_file_and_4d_arrays_are_refused_with_the_same_words(tmp_path):
    np.save(tmp_path / "trials.npy", np.zeros((3, 10, 4)))
    with pytest.raises(InputDataError, match="already has presentations"):
        load_data(tmp_path / "trials.npy", window=(0, 5))
    np.save(tmp_path / "four.npy", np.zeros((2, 3, 4, 5)))
    with pytest.raises(InputDataError, match=r"or 2: \[neurons, time\], a continuous recording"):
        load_data(tmp_path / "four.npy")
    with pytest.raises(InputDataError, match="only apply to NWB or HDF5"):
        load_data(tmp_path / "trials.npy", presentations="trials")


def test_train_cli_on_a_2d_npy_with_default_reading(tmp_path, capsys):
    rec = make_recording(n_neurons=10, n_atoms=12, n_time=40, n_presentations=30, seed=2)
    continuous = rec.data.transpose("neurons", "presentations", "time").values.reshape(10, -1)
    np.save(tmp_path / "rec.npy", continuous)
    assert main(["train", "--data_path", str(tmp_path / "rec.npy"), "--output_dir", str(tmp_path / "run"),
                 "--no_figures", *FAST]) == 0
    assert "10 neurons x 100 time bins x 12 presentations" in capsys.readouterr().out
    meta = json.loads((tmp_path / "run/checkpoints/best_model.json").read_text())
    assert meta["data_attrs"]["presentations"] == "consecutive windows"


# -- constant neurons -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def flat_rois_nwb(tmp_path_factory):
    """An ophys NWB file (pynwb) whose ROIs 1, 4 and 9 are constant."""
    rec = make_recording(n_neurons=12, n_atoms=12, n_time=25, n_presentations=24, seed=3)
    data = rec.data.copy()
    data[[1, 4, 9]] = 0.5
    return write_nwb_recording(tmp_path_factory.mktemp("flat") / "flat.nwb", dataclasses.replace(rec, data=data))


def test_train_drops_constant_rois_and_inference_and_write_back_use_the_same(flat_rois_nwb, tmp_path, capsys):
    out = tmp_path / "run"
    with pytest.warns(UserWarning, match=r"dropped 3 of 12 neurons that are constant.*ids: \[1, 4, 9\]") as rec:
        assert main(["train", "--data_path", str(flat_rois_nwb), "--output_dir", str(out), *FAST]) == 0
    assert len([w for w in rec if "dropped" in str(w.message)]) == 1  # one warning
    meta = json.loads((out / "checkpoints/best_model.json").read_text())
    kept = [i for i in range(12) if i not in (1, 4, 9)]
    assert meta["data_attrs"]["dropped_neurons"] == [1, 4, 9] and meta["neuron_coords"]["id"] == kept
    assert meta["n_neurons"] == 9 and len(list((out / "figures").glob("*.png"))) == 4

    nwb_out = tmp_path / "flat_sae.nwb"
    assert main(["inference", "--data_path", str(flat_rois_nwb), "--model_path",
                 str(out / "checkpoints/best_model.safetensors"), "--output_dir", str(tmp_path / "inf"),
                 "--nwb_out", str(nwb_out), "--no-progress"]) == 0
    recon = xr.open_dataarray(tmp_path / "inf/reconstructions.nc")
    assert recon["neurons"].values.tolist() == kept
    import nwb_sae

    res = nwb_sae.read_results(nwb_out)
    assert res.dictionary.sizes["neurons"] == 9
    assert [int(v) for v in res.dictionary["neurons"].values] == kept


def test_std_floor_keeps_a_nearly_constant_neuron_from_exploding():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 5))
    x[:, 2] = 1.0 + 1e-9 * rng.normal(size=500)  # varies, but by nothing
    mean, scale = fit_normalization(x, "zscore", np.arange(5), "x")
    stds = x.std(axis=0)
    assert scale[2] == pytest.approx(STD_FLOOR * np.median(stds), rel=1e-5)
    np.testing.assert_allclose(scale[[0, 1, 3, 4]], stds[[0, 1, 3, 4]], rtol=1e-5)  # the others: exact z-scores


def test_suite2p_export_trains_with_defaults_and_writes_back_the_same_rois(corpus_dir, tmp_path):
    path = corpus_dir / "ophys/suite2p-export__2022_08_08.nwb"
    out = tmp_path / "run"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["train", "--data_path", str(path), "--output_dir", str(out), "--no_figures",
                     "--epochs", "3", "--no-progress"]) == 0
    dropped = [str(w.message) for w in caught if "dropped" in str(w.message)]
    assert len(dropped) == 1 and "dropped 47 of 219 neurons that are constant" in dropped[0]
    meta = json.loads((out / "checkpoints/best_model.json").read_text())
    assert len(meta["data_attrs"]["dropped_neurons"]) == 47 and meta["n_neurons"] == 172
    assert meta["metrics"]["fvu"] < 10  # no blow-up from near-constant ROIs (std floor)
    nwb_out = tmp_path / "s2p_sae.nwb"
    assert main(["inference", "--data_path", str(path), "--model_path", str(out / "checkpoints/best_model"),
                 "--output_dir", str(tmp_path / "inf"), "--nwb_out", str(nwb_out), "--num_samples", "1",
                 "--no-progress"]) == 0
    import nwb_sae

    res = nwb_sae.read_results(nwb_out)
    assert [int(v) for v in res.dictionary["neurons"].values] == meta["neuron_coords"]["id"]


# -- event times are not a sampled signal -------------------------------------------------------------

def _timestamps_nwb(path, timestamps):
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries

    nwb = NWBFile(session_description="behaviour", identifier=path.stem,
                  session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc))
    nwb.add_acquisition(TimeSeries(name="licks", data=np.ones(len(timestamps)), timestamps=timestamps,
                                   unit="n/a", description="lick times"))
    for start in np.arange(1.0, 95.0, 5.0):  # trials on the same clock, inside the licks' span
        nwb.add_trial(start_time=start, stop_time=start + 3.0)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


@pytest.mark.parametrize("pattern", ["poisson", "bouts"])
def test_event_times_aligned_to_trials_are_refused_as_not_a_sampled_signal(tmp_path, pattern):
    rng = np.random.default_rng(1)
    if pattern == "poisson":
        ts = np.sort(rng.uniform(0.0, 100.0, 300))
    else:  # licking bouts: ~7 Hz for a second, then a pause of a few seconds
        starts = np.cumsum(rng.uniform(3.0, 6.0, 20))
        ts = np.concatenate([s + np.arange(7) * 0.14 + rng.normal(0, 0.005, 7) for s in starts])
    path = _timestamps_nwb(tmp_path / f"{pattern}.nwb", np.sort(ts))
    with pytest.raises(InputDataError, match=r"acquisition/licks holds \d+ irregular timestamps.*not a sampled "
                                             r"signal.*numpy.histogram.*Units"):
        read_nwb(path, activity="acquisition/licks", presentations="trials")


def test_a_sampled_series_with_jitter_and_one_pause_is_still_read(tmp_path):
    rng = np.random.default_rng(2)
    ts = np.arange(2000) * 0.05 + rng.normal(0, 0.002, 2000)
    ts[1000:] += 30.0  # one long acquisition pause
    path = _timestamps_nwb(tmp_path / "sampled.nwb", np.sort(ts))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        da = read_nwb(path, activity="acquisition/licks", presentations="trials")
    assert da.sizes["presentations"] > 0
