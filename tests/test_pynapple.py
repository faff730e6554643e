"""from_pynapple / to_pynapple: pynapple objects loaded from an NWB file give exactly what read_nwb gives.

Each test writes (or finds in the corpus) an NWB file, reads it once with :func:`nwb_sae.read_nwb` and once
through ``pynapple.load_file`` + :func:`nwb_sae.from_pynapple`, and compares the two DataArrays value for
value: data, dims, every coordinate both carry, and the attrs that describe the windows.
"""

from __future__ import annotations

import datetime
import subprocess
import sys
import warnings

import numpy as np
import pytest
import xarray as xr
from pynwb import NWBHDF5IO, NWBFile, TimeSeries

import nwb_sae
from nwb_sae.errors import InputDataError, NwbSaeError, ObjectNotFoundError

nap = pytest.importorskip("pynapple")

WINDOW_ATTRS = ("activity_kind", "align_to", "window", "bin_size", "sampling", "unit", "time_unit",
                "dropped_presentations")
"""attrs that describe the windows: equal whether the data came from the file or from pynapple."""


def new_file() -> NWBFile:
    return NWBFile(session_description="nwb-sae pynapple test", identifier="pynapple-test",
                   session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc))


def save(nwbfile: NWBFile, path):
    with NWBHDF5IO(str(path), mode="w") as io:
        io.write(nwbfile)
    return path


def add_trials(nwbfile: NWBFile, starts, duration=1.0) -> None:
    nwbfile.add_trial_column(name="stimulus", description="what was shown")
    nwbfile.add_trial_column(name="stim_on", description="stimulus onset (s)")
    for i, start in enumerate(starts):
        nwbfile.add_trial(start_time=float(start), stop_time=float(start) + duration,
                          stimulus=["face", "house", "tool"][i % 3], stim_on=float(start) + 0.25)


def loaded(path):
    """The file as pynapple reads it (pynwb warnings about the file are not what is tested)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return nap.load_file(str(path))


def read_both(path, objects, activity, presentations=None, **options):
    """(read_nwb's DataArray, from_pynapple's), with the warnings each gave (as message texts)."""
    with warnings.catch_warnings(record=True) as from_file:
        warnings.simplefilter("always")
        expected = nwb_sae.read_nwb(path, activity=activity, presentations=presentations, **options)
    with warnings.catch_warnings(record=True) as from_objects:
        warnings.simplefilter("always")
        got = nwb_sae.from_pynapple(objects[activity],
                                    presentations=None if presentations is None else objects[presentations],
                                    **options)
    return expected, got, [str(w.message) for w in from_file], [str(w.message) for w in from_objects]


def assert_same(got: xr.DataArray, expected: xr.DataArray, exact_time: bool = True) -> None:
    """Same values, dims, shared coordinates and window attrs."""
    assert got.dims == expected.dims == ("neurons", "time", "presentations")
    assert got.dtype == expected.dtype == np.float32
    np.testing.assert_array_equal(got.values, expected.values)
    shared = set(got.coords) & set(expected.coords)
    assert {"neurons", "id", "time", "presentations"} <= shared
    for name in shared - {"time"}:
        np.testing.assert_array_equal(got[name].values, expected[name].values, err_msg=name)
        assert got[name].dims == expected[name].dims, name
    if exact_time:
        np.testing.assert_array_equal(got["time"].values, expected["time"].values)
    else:  # a rate in the file becomes timestamps in pynapple: the sample period differs by rounding only
        np.testing.assert_allclose(got["time"].values, expected["time"].values, rtol=0, atol=1e-9)
    for key in WINDOW_ATTRS:
        if key == "bin_size":
            assert got.attrs[key] == pytest.approx(expected.attrs[key], rel=1e-12)
        elif key == "unit" and got.attrs["activity_kind"] != "units":
            assert got.attrs[key] == ""  # pynapple does not carry a series' unit
        elif key != "sampling" or exact_time:  # pynapple states timestamps where the file gave a rate
            assert got.attrs[key] == expected.attrs[key], key


# -- spike trains -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def units_file(tmp_path_factory):
    """Units 3, 8 and 12 (with a quality column) over 20 s, trials every 2 s from 0.2 s with three stimuli."""
    rng = np.random.default_rng(4)
    nwbfile = new_file()
    nwbfile.add_unit_column(name="quality", description="sorting quality")
    for unit_id, rate in [(3, 5.0), (8, 20.0), (12, 40.0)]:
        train = np.sort(rng.uniform(0.0, 20.0, int(rate * 20)))
        nwbfile.add_unit(spike_times=train, id=unit_id, quality="good" if unit_id != 8 else "mua")
    add_trials(nwbfile, 0.2 + 2.0 * np.arange(10))
    return save(nwbfile, tmp_path_factory.mktemp("pynapple") / "units.nwb")


@pytest.mark.parametrize("bin_size", [0.01, 0.05, 0.1])
def test_units_with_trials_equal_read_nwb(units_file, bin_size):
    objects = loaded(units_file)
    expected, got, warned_file, warned_objects = read_both(units_file, objects, "units", "trials",
                                                          window=(-0.5, 1.5), bin_size=bin_size)
    assert_same(got, expected)
    assert got.sizes["presentations"] == 9  # the window of the trial at 0.2 s starts before the recording
    assert any("dropped 1 of 10" in m for m in warned_file) and any("dropped 1 of 10" in m for m in warned_objects)
    assert got["quality"].values.tolist() == ["good", "mua", "good"]
    assert got["stimulus"].values.tolist()[:3] == ["house", "tool", "face"]
    assert got.attrs["activity_type"] == "TsGroup" and got.attrs["presentations"] == "IntervalSet"


def test_units_aligned_to_a_column_as_rate_and_default_window(units_file):
    objects = loaded(units_file)
    expected, got, _, _ = read_both(units_file, objects, "units", "trials", align_to="stim_on", as_rate=True)
    assert_same(got, expected)
    assert got.attrs["window"] == [0.0, 1.0] and got.attrs["unit"] == "spikes/s"  # median trial duration


def test_units_in_consecutive_windows_equal_read_nwb(units_file):
    objects = loaded(units_file)
    for window in (None, 2.0, (0.0, 0.35)):
        expected, got, _, _ = read_both(units_file, objects, "units", window=window, bin_size=0.05)
        assert_same(got, expected)
        assert got.attrs["presentations"] == "consecutive windows"


def test_time_support_wider_than_the_spikes_is_the_recording(tmp_path):
    """A TsGroup whose time_support outlasts its spikes says when the recording ran, as obs_intervals do."""
    nwbfile = new_file()
    for unit_id, train in [(0, [1.0, 2.0, 3.0]), (1, [1.5, 2.5])]:
        nwbfile.add_unit(spike_times=train, id=unit_id, obs_intervals=[[0.0, 10.0]])
    add_trials(nwbfile, [1.0, 4.0, 8.0, 9.5])
    path = save(nwbfile, tmp_path / "obs.nwb")
    objects = loaded(path)
    group = nap.TsGroup({k: objects["units"][k] for k in objects["units"].keys()},
                        time_support=nap.IntervalSet(0.0, 10.0))
    with pytest.warns(UserWarning, match="dropped 1 of 4"):  # 9.5 + 1 s ends after the recording
        got = nwb_sae.from_pynapple(group, presentations=objects["trials"], window=(0.0, 1.0))
    with pytest.warns(UserWarning, match="dropped 1 of 4"):
        expected = nwb_sae.read_nwb(path, presentations="trials", window=(0.0, 1.0))
    assert_same(got, expected)
    # pynapple's default time_support (the span of the spikes) says nothing: windows after the last spike stay
    with pytest.warns(UserWarning, match="start after the last spike"):
        kept = nwb_sae.from_pynapple(objects["units"], presentations=objects["trials"], window=(0.0, 1.0))
    assert kept.sizes["presentations"] == 4 and not kept.values[:, :, 2:].any()


def test_rutishauser_units_aligned_to_encoding_table(corpus_dir):
    path = corpus_dir / "ecephys" / "rutishauser-cb__sub-4_ses-4_ecephys+image.nwb"
    objects = loaded(path)
    got = nwb_sae.from_pynapple(objects["units"], presentations=objects["encoding_table"], window=(-0.5, 1.5),
                                bin_size=0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pynwb's complaints about the file's OpticalSeries
        expected = nwb_sae.read_nwb(path, activity="units", presentations="encoding_table", window=(-0.5, 1.5),
                                    bin_size=0.05)
    assert got.shape == (35, 40, 90)
    assert_same(got, expected)
    assert {"stimCategory", "Clip_name", "location"} <= set(got.coords)
    assert int(got.sum()) == int(expected.sum()) > 0


# -- continuous series ---------------------------------------------------------------------------------
def index_code(n_samples: int, n_channels: int) -> np.ndarray:
    """value[t, c] = 1000 c + t: every element says which sample of which channel it is."""
    return (1000 * np.arange(n_channels)[None, :] + np.arange(n_samples)[:, None]).astype(np.float32)


@pytest.fixture(scope="module")
def series_file(tmp_path_factory):
    """'regular': 3 channels at 20 Hz from 1.3 s; 'stamped': timestamps at 10 Hz with a gap; 8 trials."""
    nwbfile = new_file()
    nwbfile.add_acquisition(TimeSeries(name="regular", data=index_code(600, 3), unit="mV", rate=20.0,
                                       starting_time=1.3))
    stamps = np.concatenate([np.arange(0, 150) * 0.1, 16.0 + np.arange(0, 150) * 0.1])
    nwbfile.add_acquisition(TimeSeries(name="stamped", data=index_code(300, 2), unit="a.u.", timestamps=stamps))
    add_trials(nwbfile, [1.0, 2.5, 6.0, 9.05, 14.6, 17.3, 22.0, 29.5])
    return save(nwbfile, tmp_path_factory.mktemp("pynapple") / "series.nwb")


@pytest.mark.parametrize("bin_size", [None, 0.1])
def test_regular_series_with_trials_equal_read_nwb(series_file, bin_size):
    objects = loaded(series_file)
    expected, got, warned_file, warned_objects = read_both(series_file, objects, "regular", "trials",
                                                          window=(-0.5, 1.0), bin_size=bin_size)
    assert_same(got, expected, exact_time=False)
    assert got.sizes["presentations"] == 7  # 1.0 - 0.5 s is before the first sample at 1.3 s
    assert any("dropped 1 of 8" in m for m in warned_file) and any("dropped 1 of 8" in m for m in warned_objects)
    assert got.attrs["activity_kind"] == "timeseries" and got.attrs["unit"] == ""  # pynapple has no unit


def test_timestamped_series_with_a_gap_equal_read_nwb(series_file):
    objects = loaded(series_file)
    expected, got, _, _ = read_both(series_file, objects, "stamped", "trials", window=(0.0, 1.0))
    assert_same(got, expected)
    assert got.sizes["presentations"] == 7  # the window at 14.6 s spans the gap from 15 to 16 s: dropped


def test_series_in_consecutive_windows_equal_read_nwb(series_file):
    objects = loaded(series_file)
    for name in ("regular", "stamped"):
        expected, got, _, _ = read_both(series_file, objects, name, window=(0.0, 2.0))
        assert_same(got, expected, exact_time=name == "stamped")


def test_tsdframe_metadata_and_tsdtensor():
    t = np.arange(100) * 0.1
    frame = nap.TsdFrame(t=t, d=index_code(100, 2), columns=["a", "b"], metadata={"region": ["CA1", "CA3"]})
    events = nap.Ts(t=[2.0, 5.0])
    data = nwb_sae.from_pynapple(frame, presentations=events, window=(0.0, 0.5))
    assert data["neurons"].values.tolist() == ["a", "b"] and data["region"].values.tolist() == ["CA1", "CA3"]
    np.testing.assert_array_equal(data.values[1, :, 0], 1000 + 20 + np.arange(5))
    tensor = nap.TsdTensor(t=t, d=np.arange(100 * 6, dtype=float).reshape(100, 2, 3))
    flat = nwb_sae.from_pynapple(tensor, presentations=events, window=(0.0, 0.5))
    assert flat.sizes["neurons"] == 6
    np.testing.assert_array_equal(flat.values[:, 0, 1], np.arange(50 * 6, 51 * 6))


# -- to_pynapple and the estimator ---------------------------------------------------------------------
def test_round_trip_keeps_values_and_times(series_file):
    objects = loaded(series_file)
    with pytest.warns(UserWarning, match="dropped 1 of 8"):  # the window across the gap
        data = nwb_sae.from_pynapple(objects["stamped"], presentations=objects["trials"], window=(0.0, 1.0))
    frame = nwb_sae.to_pynapple(data)
    assert isinstance(frame, nap.TsdFrame) and frame.shape == (7 * 10, 2)
    assert frame.columns.tolist() == [0, 1]
    for p, start in enumerate(data["start_time"].values):  # windows placed at event + time, in order
        window = frame.restrict(frame.time_support[p])
        np.testing.assert_array_equal(window.t, start + data["time"].values)
        np.testing.assert_array_equal(window.values, data.values[:, :, p].T)
    assert frame.time_support["stimulus"].tolist() == data["stimulus"].values.tolist()
    with pytest.warns(UserWarning, match="dropped 1 of 8"):
        back = nwb_sae.from_pynapple(frame, presentations=objects["trials"], window=(0.0, 1.0))
    np.testing.assert_array_equal(back.values, data.values)
    np.testing.assert_allclose(back["time"].values, data["time"].values, rtol=0, atol=1e-9)
    tensor = nwb_sae.to_pynapple(data, relative=True)  # as nap.compute_perievent gives
    assert isinstance(tensor, nap.TsdTensor) and tensor.shape == (10, 7, 2)
    np.testing.assert_array_equal(tensor.t, data["time"].values)
    np.testing.assert_array_equal(tensor.values, data.values.transpose(1, 2, 0))


def test_consecutive_windows_round_trip_to_the_recording_time_base(series_file):
    objects = loaded(series_file)
    with pytest.warns(UserWarning, match="dropped 1 of 20"):  # the window across the gap
        data = nwb_sae.from_pynapple(objects["stamped"], window=(0.0, 1.5))
    frame = nwb_sae.to_pynapple(data)
    assert len(frame) == 15 * data.sizes["presentations"] and len(frame.time_support) == data.sizes["presentations"]
    source = objects["stamped"]  # every sample back at its own time (to rounding), with its own values
    rows = np.searchsorted(source.t, frame.t - 1e-9)
    np.testing.assert_allclose(frame.t, source.t[rows], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(frame.values, source.values[rows])


def test_sae_takes_pynapple_objects_and_codes_come_back(units_file, tmp_path):
    objects = loaded(units_file)
    sae = nwb_sae.SAE(n_latents=8, k=2, epochs=2, batch_size=64, progress=False).fit(objects["units"])
    assert sae.n_features_in_ == 3
    codes = sae.encode(objects["units"])
    np.testing.assert_array_equal(codes.values, sae.encode(nwb_sae.from_pynapple(objects["units"])).values)
    trials = nwb_sae.from_pynapple(objects["units"], presentations=objects["trials"], window=(0.0, 1.0))
    tsd = nwb_sae.to_pynapple(sae.encode(trials))
    assert tsd.shape == (10 * 20, 8) and tsd.columns.tolist() == list(range(8))
    out = nwb_sae.write_nwb(sae, units_file, tmp_path / "with_codes.nwb", progress=False)
    with nwb_sae.read_results(out) as results:
        written = results.codes.load()
    frame = nwb_sae.to_pynapple(written)
    np.testing.assert_array_equal(frame.t, written["time"].values)
    np.testing.assert_array_equal(frame.values, written.transpose("time", "latents").values)


# -- bad input -----------------------------------------------------------------------------------------
def test_bad_input_is_named(units_file, series_file):
    objects = loaded(units_file)
    with pytest.raises(InputDataError, match="takes a TsGroup"):
        nwb_sae.from_pynapple(np.zeros((3, 10)))
    with pytest.raises(InputDataError, match="needs presentations"):
        nwb_sae.from_pynapple(objects["units"], align_to="stim_on")
    with pytest.raises(ObjectNotFoundError, match="no numeric column 'stimulus'.*stim_on"):
        nwb_sae.from_pynapple(objects["units"], presentations=objects["trials"], align_to="stimulus")
    with pytest.raises(InputDataError, match="IntervalSet"):
        nwb_sae.from_pynapple(objects["units"], presentations=[1.0, 2.0], window=1.0)
    with pytest.raises(InputDataError, match="not a whole multiple"):
        nwb_sae.from_pynapple(loaded(series_file)["regular"], bin_size=0.07)
    overlapping = nwb_sae.from_pynapple(objects["units"], presentations=objects["trials"], window=(0.0, 3.0))
    with pytest.raises(InputDataError, match="relative=True"):
        nwb_sae.to_pynapple(overlapping)
    with pytest.raises(InputDataError, match="dims"):
        nwb_sae.to_pynapple(overlapping.isel(time=0))


def test_without_pynapple_the_error_says_how_to_install():
    code = ("import sys; sys.modules['pynapple'] = None\n"
            "import nwb_sae\n"
            "try:\n"
            "    nwb_sae.from_pynapple(None)\n"
            "except nwb_sae.NwbSaeError as err:\n"
            "    print(err)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'nwb-sae[pynapple]'" in done.stdout
    assert issubclass(NwbSaeError, Exception)
