"""read_nwb / open_activity on NWB files written here with pynwb, whose aligned arrays are known.

Continuous series hold an index code, ``value[t, c] = 1000 * c + t``, so every element says which
sample of which channel it came from, and the expected arrays follow from the window rule alone.
"""

from __future__ import annotations

import datetime
import subprocess
import sys
import warnings

import h5py
import numpy as np
import pytest
from hdmf.backends.hdf5 import H5DataIO
from pynwb import NWBHDF5IO, NWBFile, TimeSeries
from pynwb.ecephys import ElectricalSeries
from pynwb.ophys import DfOverF, ImageSegmentation, OpticalChannel, RoiResponseSeries

from nwb_sae.errors import InputDataError, NwbSaeError, ObjectNotFoundError, UnsupportedFileError
from nwb_sae.io import load_data
from nwb_sae.io.recording.nwb import open_activity, read_nwb
from nwb_sae.synthetic import make_recording, write_nwb_recording


def new_file() -> NWBFile:
    return NWBFile(session_description="nwb-sae reader test", identifier="reader-test",
                   session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc))


def save(nwbfile: NWBFile, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pynwb warns about transposed data, which some tests write on purpose
        with NWBHDF5IO(str(path), mode="w") as io:
            io.write(nwbfile)
    return path


def index_code(n_samples: int, n_channels: int) -> np.ndarray:
    return (1000 * np.arange(n_channels)[None, :] + np.arange(n_samples)[:, None]).astype(np.float32)


def expected_windows(starts, n: int, channels) -> np.ndarray:
    """(channels, n, P) index code of windows starting at sample ``starts``."""
    starts = np.asarray(starts)
    return (1000 * np.asarray(channels)[:, None, None] + starts[None, None, :]
            + np.arange(n)[None, :, None]).astype(np.float32)


def add_rois(nwbfile: NWBFile, data, roi_ids, **timing) -> None:
    device = nwbfile.create_device(name="scope")
    plane = nwbfile.create_imaging_plane(
        name="plane", optical_channel=OpticalChannel(name="ch", description="g", emission_lambda=510.0),
        description="p", device=device, excitation_lambda=920.0, indicator="GCaMP", location="V1",
    )
    segmentation = ImageSegmentation(name="ImageSegmentation")
    planes = segmentation.create_plane_segmentation(name="PlaneSegmentation", description="rois", imaging_plane=plane)
    planes.add_column(name="iscell", description="accepted")
    for i, roi_id in enumerate(roi_ids):
        mask = np.zeros((8, 8), dtype=np.float32)
        mask[i % 8, i // 8] = 1.0
        planes.add_roi(image_mask=mask, id=int(roi_id), iscell=bool(i % 2 == 0))
    module = nwbfile.create_processing_module(name="ophys", description="ophys")
    module.add(segmentation)
    dff = DfOverF(name="DfOverF")
    module.add(dff)
    rois = planes.create_roi_table_region(description="all", region=list(range(len(roi_ids))))
    dff.add_roi_response_series(RoiResponseSeries(name="RoiResponseSeries", data=data, unit="a.u.", rois=rois,
                                                  **timing))


def add_trials(nwbfile: NWBFile, starts, **columns) -> None:
    for name in columns:
        nwbfile.add_trial_column(name=name, description=name)
    for i, start in enumerate(starts):
        nwbfile.add_trial(start_time=float(start), stop_time=float(start) + 1.0,
                          **{name: values[i] for name, values in columns.items()})


@pytest.fixture(scope="module")
def ophys_file(tmp_path_factory):
    """4 ROIs (ids 10, 20, 30, 40), 300 samples at 10 Hz from t = 2 s, 5 trials."""
    nwbfile = new_file()
    add_rois(nwbfile, index_code(300, 4), [10, 20, 30, 40], rate=10.0, starting_time=2.0)
    add_trials(nwbfile, [3.0, 5.0, 12.34, 2.1, 31.5], condition=["a", "b", "a", "c", "b"],
               stim_on=[3.2, 5.2, 12.54, 2.3, 31.7])
    return save(nwbfile, tmp_path_factory.mktemp("ophys") / "ophys.nwb")


def test_regular_rate_with_starting_time_offset(ophys_file):
    with pytest.warns(UserWarning, match="dropped 2 of 5 presentations"):
        da = read_nwb(ophys_file, presentations="trials", window=(-0.5, 1.0))
    assert da.dims == ("neurons", "time", "presentations")
    assert da.dtype == np.float32
    # first sample nearest to event - 0.5 on the grid 2.0 + 0.1 k: 3.0 -> 5, 5.0 -> 25, 12.34 -> 98 (98.4)
    np.testing.assert_array_equal(da.values, expected_windows([5, 25, 98], 15, range(4)))
    np.testing.assert_allclose(da.time.values, -0.5 + 0.1 * np.arange(15))
    assert da.id.values.tolist() == [10, 20, 30, 40]
    assert da.neurons.values.tolist() == [10, 20, 30, 40]
    assert da.iscell.values.tolist() == [True, False, True, False]
    assert da.location.values.tolist() == ["V1"] * 4
    assert da.presentations.values.tolist() == [0, 1, 2]
    assert da.condition.values.tolist() == ["a", "b", "a"]
    assert da.attrs["dropped_presentations"] == 2
    assert da.attrs["activity"] == "processing/ophys/DfOverF/RoiResponseSeries"
    assert da.attrs["presentations"] == "intervals/trials"
    assert da.attrs["window"] == [-0.5, 1.0] and da.attrs["bin_size"] == pytest.approx(0.1)
    assert da.attrs["neuron_table"] == "processing/ophys/ImageSegmentation/PlaneSegmentation"
    assert da.attrs["nwb_version"].startswith("2.")


def test_align_to_column_and_selections(ophys_file):
    da = read_nwb(ophys_file, presentations="trials", window=(0.0, 0.5), align_to="stim_on",
                  neurons="iscell", where="condition != 'c' and start_time < 20")
    # stim_on 3.2 -> sample 12, 5.2 -> 32, 12.54 -> 105.4 -> 105; ROIs 10 and 30 are cells
    np.testing.assert_array_equal(da.values, expected_windows([12, 32, 105], 5, [0, 2]))
    assert da.id.values.tolist() == [10, 30]
    assert da.attrs["align_to"] == "stim_on"
    by_id = read_nwb(ophys_file, presentations="trials", window=(0.0, 0.5), neurons=[40, 20], where={"condition": "b"})
    np.testing.assert_array_equal(by_id.values, expected_windows([30, 295], 5, [3, 1]))
    assert by_id.presentations.values.tolist() == [1, 4]


def test_consecutive_windows_without_a_table(ophys_file):
    da = read_nwb(ophys_file, window=7.0)
    # 300 samples = 30 s; 4 whole windows of 7 s (70 samples) starting at 2.0, 9.0, 16.0, 23.0
    np.testing.assert_array_equal(da.values, expected_windows([0, 70, 140, 210], 70, range(4)))
    np.testing.assert_allclose(da.start_time.values, [2.0, 9.0, 16.0, 23.0])
    assert "consecutive windows of 7 s" in da.attrs["alignment"]
    default = read_nwb(ophys_file)
    assert default.sizes["time"] == 100 and default.sizes["presentations"] == 3


def test_bin_size_averages_whole_numbers_of_samples(ophys_file):
    da = read_nwb(ophys_file, presentations="trials", window=(0.0, 1.0), bin_size=0.2, where="start_time < 20")
    assert da.sizes["time"] == 5
    # trial at 3.0 starts at sample 10; bin k averages samples 10 + 2k and 11 + 2k
    np.testing.assert_allclose(da.values[1, :, 0], 1000 + 10.5 + 2 * np.arange(5))
    with pytest.raises(InputDataError, match="whole multiple"):
        read_nwb(ophys_file, presentations="trials", window=(0.0, 1.0), bin_size=0.15)


def test_lazy_is_dask_and_equal(ophys_file):
    import dask.array

    with pytest.warns(UserWarning, match="dropped"):
        eager = read_nwb(ophys_file, presentations="trials", window=(-0.5, 1.0))
    with pytest.warns(UserWarning, match="dropped"):
        lazy = read_nwb(ophys_file, presentations="trials", window=(-0.5, 1.0), lazy=True)
    assert isinstance(lazy.data, dask.array.Array)
    np.testing.assert_array_equal(lazy.compute().values, eager.values)
    assert lazy.coords.to_dataset().equals(eager.coords.to_dataset())


def test_open_activity_reads_slices(ophys_file):
    with open_activity(ophys_file) as src:
        assert (src.kind, src.n_neurons, src.n_samples, src.rate, src.starting_time) == (
            "roi_response", 4, 300, 10.0, 2.0)
        assert src.timestamps is None
        np.testing.assert_array_equal(src.read(17, 23), index_code(300, 4)[17:23])
        assert src.read(5, 5).shape == (0, 4)
        assert src.neuron_coords["id"].tolist() == [10, 20, 30, 40]
        assert src.neuron_table_path == "processing/ophys/ImageSegmentation/PlaneSegmentation"
        assert src.neuron_table_rows.tolist() == [0, 1, 2, 3]
        np.testing.assert_allclose(src.sample_times(0, 3), [2.0, 2.1, 2.2])
        with pytest.raises(InputDataError, match="300 samples"):
            src.read(290, 301)


def test_explicit_timestamps_and_gaps(tmp_path):
    ts = np.r_[1.0 + 0.02 * np.arange(100), 3.5 + 0.02 * np.arange(100)]  # 50 Hz, a gap at 3.0-3.5 s
    ts = ts + np.tile([0.0, 0.003, 0.0, -0.003], 50)  # jitter under half a sample; median interval 0.02
    nwbfile = new_file()
    nwbfile.add_acquisition(TimeSeries(name="traces", data=index_code(200, 3), unit="a", timestamps=ts))
    add_trials(nwbfile, [1.5, 2.9, 3.6])
    path = save(nwbfile, tmp_path / "ts.nwb")
    with pytest.warns(UserWarning, match="dropped 1 of 3"):
        da = read_nwb(path, activity="traces", presentations="trials", window=(-0.1, 0.3))
    # 1.4 -> index 20; 3.5 -> index 100; the window at 2.8 would run over the gap
    np.testing.assert_array_equal(da.values, expected_windows([20, 100], 20, range(3)))
    # the sample period is estimated from the timestamps, so times are nominal to a fraction of a sample
    np.testing.assert_allclose(da.time.values, -0.1 + 0.02 * np.arange(20), atol=1e-3)
    assert da.attrs["bin_size"] == pytest.approx(0.02, abs=1e-4)
    assert da.attrs["sampling"].startswith("timestamps")
    with open_activity(path, activity="acquisition/traces") as src:
        assert src.rate is None and src.timestamps[100] == ts[100]
    with pytest.warns(UserWarning, match="dropped 1 of 3"):
        lazy = read_nwb(path, activity="traces", presentations="trials", window=(-0.1, 0.3), lazy=True)
    np.testing.assert_array_equal(lazy.values, da.values)


def test_transposed_storage_is_detected(tmp_path):
    nwbfile = new_file()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pynwb says the data should be transposed: that is the point
        add_rois(nwbfile, index_code(50, 6).T.copy(), [0, 1, 2, 3, 4, 5], rate=5.0)
    path = save(nwbfile, tmp_path / "transposed.nwb")
    da = read_nwb(path, window=2.0)
    assert da.sizes["neurons"] == 6 and da.sizes["time"] == 10
    np.testing.assert_array_equal(da.values, expected_windows([0, 10, 20, 30, 40], 10, range(6)))
    assert "transposed" in da.attrs["notes"]
    with open_activity(path) as src:
        np.testing.assert_array_equal(src.read(3, 7), index_code(50, 6)[3:7])


@pytest.fixture(scope="module")
def units_file(tmp_path_factory):
    """Unit 5 fires at 0.005 + 0.01 j for every j; unit 9 for j divisible by 3; spikes stored unsorted."""
    j = np.arange(1000)
    trains = {5: 0.005 + 0.01 * j, 9: 0.005 + 0.01 * j[j % 3 == 0]}
    nwbfile = new_file()
    for unit_id, train in trains.items():
        nwbfile.add_unit(spike_times=train[::-1].copy(), id=unit_id)
    add_trials(nwbfile, [1.0, 4.0, 9.95, 0.1])
    return save(nwbfile, tmp_path_factory.mktemp("units") / "units.nwb"), trains


@pytest.mark.parametrize("bin_size", [0.01, 0.02, 0.05, 0.1])
def test_units_binned_at_several_bin_sizes(units_file, bin_size):
    path, trains = units_file
    window = (-0.2, 0.3)
    with pytest.warns(UserWarning, match="dropped 1 of 4"):  # the window at 0.1 starts before time 0
        da = read_nwb(path, presentations="trials", window=window, bin_size=bin_size)
    n = round(0.5 / bin_size)
    events = np.array([1.0, 4.0, 9.95])
    assert da.sizes == {"neurons": 2, "time": n, "presentations": 3}  # 0.1 - 0.2 < 0: dropped
    for u, unit_id in enumerate([5, 9]):
        for p, event in enumerate(events):
            edges = event + window[0] + np.arange(n + 1) * bin_size
            expected = [np.sum((trains[unit_id] >= a) & (trains[unit_id] < b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]
            assert da.values[u, :, p].tolist() == expected
    assert da.id.values.tolist() == [5, 9]
    assert da.attrs["unit"] == "spikes per bin"
    assert "not sorted" in da.attrs["notes"]


def test_units_rates_and_warnings(units_file):
    path, _ = units_file
    with pytest.warns(UserWarning) as record:
        da = read_nwb(path, presentations="trials", window=(0.06, 0.16), bin_size=0.05, as_rate=True)
    messages = " ".join(str(w.message) for w in record)
    assert "dropped" not in messages  # all windows start after time 0
    assert "1 of 4 windows start after the last spike" in messages
    np.testing.assert_array_equal(da.sel(neurons=5).values[:, 0], [100.0, 100.0])
    assert da.attrs["unit"] == "spikes/s"
    with pytest.warns(UserWarning, match="no spike of the 2 unit"):
        read_nwb(path, presentations="trials", window=(0.06, 0.16), where="start_time > 9")


def test_open_activity_units_grid(units_file):
    path, trains = units_file
    with open_activity(path, bin_size=0.1) as src:
        assert (src.kind, src.n_neurons, src.rate, src.starting_time) == ("units", 2, 10.0, 0.0)
        assert src.n_samples == 100  # last spike at 9.995
        block = src.read(0, 100)
        assert block[:, 0].tolist() == [10.0] * 100
        assert block.sum() == len(trains[5]) + len(trains[9])
        np.testing.assert_allclose(src.timestamps[:3], [0.0, 0.1, 0.2])
        assert src.neuron_table_path == "units" and src.neuron_table_rows.tolist() == [0, 1]


def test_every_reader_answers_read_windows_of_events(ophys_file, units_file):
    """Continuous series and spike trains take the same read_windows(events, window); lazy reads agree."""
    window = (-0.2, 0.3)
    for path, options in ((ophys_file, {}), (units_file[0], {"bin_size": 0.05})):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # windows outside the recording are dropped: not the point here
            eager = read_nwb(path, presentations="trials", window=window, **options)
            lazy = read_nwb(path, presentations="trials", window=window, lazy=True, **options)
        np.testing.assert_array_equal(lazy.values, eager.values)
        events = eager.start_time.values
        with open_activity(path, **options) as src:
            assert src.windows_inside(events, window).all()
            np.testing.assert_array_equal(src.read_windows(events, window), eager.values)
            two = src.subset([1, 0])
            assert two.path == src.path and two.reader is not src.reader
            np.testing.assert_array_equal(two.read_windows(events, window), eager.values[[1, 0]])


def test_electrical_series_ids_and_conversion(tmp_path):
    nwbfile = new_file()
    device = nwbfile.create_device(name="probe")
    group = nwbfile.create_electrode_group(name="shank", description="s", location="CA1", device=device)
    for i in range(5):
        nwbfile.add_electrode(group=group, location="CA1" if i < 3 else "CA3", id=100 + i)
    region = nwbfile.create_electrode_table_region(region=[4, 2, 0], description="three")
    series = ElectricalSeries(name="ElectricalSeries", data=index_code(100, 3), electrodes=region, rate=100.0,
                              conversion=2.0, channel_conversion=[1.0, 0.5, 1.0])
    nwbfile.add_acquisition(series)
    path = save(nwbfile, tmp_path / "ecephys.nwb")
    da = read_nwb(path, window=0.5)
    assert da.id.values.tolist() == [104, 102, 100]
    assert da.location.values.tolist() == ["CA3", "CA1", "CA1"]
    assert da.group_name.values.tolist() == ["shank"] * 3
    expected = expected_windows([0], 50, range(3))[:, :, 0] * np.array([2.0, 1.0, 2.0])[:, None]
    np.testing.assert_array_equal(da.values[:, :, 0], expected)
    assert da.attrs["neuron_table"] == "general/extracellular_ephys/electrodes"


def test_codes_time_series_in_a_processing_module(tmp_path):
    """What write-back produces: a 2-D TimeSeries processing/sae/codes next to the source activity."""
    nwbfile = new_file()
    add_rois(nwbfile, index_code(300, 4), [1, 2, 3, 4], rate=10.0)
    module = nwbfile.create_processing_module(name="sae", description="codes")
    module.add(TimeSeries(name="codes", data=index_code(300, 7), unit="a.u.", rate=10.0))
    add_trials(nwbfile, [1.0, 2.0])
    path = save(nwbfile, tmp_path / "codes.nwb")
    da = read_nwb(path, activity="processing/sae/codes", presentations="trials", window=(0.0, 0.5))
    np.testing.assert_array_equal(da.values, expected_windows([10, 20], 5, range(7)))
    assert da.attrs["activity_kind"] == "timeseries"
    assert read_nwb(path, presentations="trials", window=(0.0, 0.5)).attrs["activity_kind"] == "roi_response"


def test_synthetic_nwb_gives_back_the_recording(tmp_path):
    rec = make_recording(n_neurons=12, n_atoms=24, n_time=10, n_presentations=15, seed=3)
    path = write_nwb_recording(tmp_path / "rec.nwb", rec)
    window = (float(rec.data.time[0]), float(rec.data.time[-1]) + 0.05)
    da = read_nwb(path, presentations="trials", window=window)
    np.testing.assert_array_equal(da.values, rec.data.values)
    np.testing.assert_allclose(da.time.values, rec.data.time.values, atol=1e-12)
    assert da.condition.values.tolist() == rec.data.condition.values.tolist()
    assert da.id.values.tolist() == list(range(12))
    with h5py.File(path, "r") as f:
        assert f["processing/ophys/ImageSegmentation/PlaneSegmentation/image_mask"].shape[0] == 12
    units = write_nwb_recording(tmp_path / "units.nwb", rec, kind="units")
    counts = read_nwb(units, presentations="trials", window=window, bin_size=0.05)
    assert counts.shape == rec.data.shape
    positive = np.clip(rec.data.values, 0, None)
    expected = 40.0 * positive / positive.max() * 0.05  # Poisson means: default peak rate 40 Hz, 50 ms bins
    assert abs(counts.values.sum() - expected.sum()) < 5 * np.sqrt(expected.sum())
    assert counts.values[positive == 0].sum() == 0
    with pytest.raises(NwbSaeError, match="exists"):
        write_nwb_recording(path, rec)


def test_epochs_and_interval_tables_in_processing_modules(tmp_path):
    from pynwb.epoch import TimeIntervals

    nwbfile = new_file()
    nwbfile.add_acquisition(TimeSeries(name="traces", data=index_code(100, 2), unit="a", rate=10.0))
    nwbfile.add_epoch(start_time=1.0, stop_time=3.0, tags=["pre", "dark"])
    nwbfile.add_epoch(start_time=5.0, stop_time=7.0, tags=["post"])
    stimuli = TimeIntervals(name="stimuli", description="flashes")
    stimuli.add_column(name="contrast", description="contrast")
    for start, contrast in [(2.0, 0.5), (4.0, 1.0)]:
        stimuli.add_interval(start_time=start, stop_time=start + 0.5, contrast=contrast)
    nwbfile.create_processing_module(name="behavior", description="b").add(stimuli)
    path = save(nwbfile, tmp_path / "intervals.nwb")
    epochs = read_nwb(path, presentations="epochs")  # default window: (0, median duration) = (0, 2)
    np.testing.assert_array_equal(epochs.values, expected_windows([10, 50], 20, range(2)))
    assert epochs.tags.values.tolist() == ["pre,dark", "post"]
    flashes = read_nwb(path, presentations="stimuli", window=(-0.1, 0.2))
    np.testing.assert_array_equal(flashes.values, expected_windows([19, 39], 3, range(2)))
    assert flashes.contrast.values.tolist() == [0.5, 1.0]
    assert flashes.attrs["presentations"] == "processing/behavior/stimuli"


def test_load_data_dispatches_nwb_options(ophys_file):
    with pytest.warns(UserWarning, match="dropped 1 of 5"):  # stim_on 31.7 s: the window ends past 32 s
        da = load_data(ophys_file, presentations="trials", window=(0.0, 0.5), activity=None, where=None,
                       align_to="stim_on", bin_size=None)
    assert da.presentations.values.tolist() == [0, 1, 2, 3]


# ---------------------------------------------------------------- bad input


def test_not_hdf5_and_truncated(tmp_path, ophys_file):
    text = tmp_path / "notes.nwb"
    text.write_text("not an HDF5 file")
    with pytest.raises(UnsupportedFileError, match="not an HDF5 file"):
        read_nwb(text)
    truncated = tmp_path / "cut.nwb"  # a name without "truncated" or "lock" in it
    truncated.write_bytes(ophys_file.read_bytes()[:20_000])
    with pytest.raises(UnsupportedFileError, match="is truncated") as caught:
        read_nwb(truncated)
    assert "locked" not in str(caught.value)  # HDF5's message names the 'sblock'
    with pytest.raises(UnsupportedFileError, match="no such file"):
        read_nwb(tmp_path / "missing.nwb")


def test_file_open_for_writing_elsewhere(tmp_path, ophys_file):
    path = tmp_path / "busy.nwb"
    path.write_bytes(ophys_file.read_bytes())
    holder = subprocess.Popen(
        [sys.executable, "-c", "import h5py, sys, time\nf = h5py.File(sys.argv[1], 'a')\nprint('ready', flush=True)\n"
         "time.sleep(60)", str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(UnsupportedFileError, match="open for writing"):
            read_nwb(path)
    finally:
        holder.kill()
        holder.wait()


def test_unknown_activity_and_table_list_what_exists(ophys_file):
    with pytest.raises(ObjectNotFoundError, match="processing/ophys/DfOverF/RoiResponseSeries") as err:
        read_nwb(ophys_file, activity="processing/ophys/Fluorescence/RoiResponseSeries")
    assert "RoiResponseSeries, 4 x 300 samples, 10 Hz" in str(err.value)
    with pytest.raises(ObjectNotFoundError, match=r"intervals/trials \(5 rows"):
        read_nwb(ophys_file, presentations="stimuli")
    with pytest.raises(ObjectNotFoundError, match="no numeric column 'go_cue'"):
        read_nwb(ophys_file, presentations="trials", window=(0, 1), align_to="go_cue")
    with pytest.raises(ObjectNotFoundError, match="no neuron"):
        read_nwb(ophys_file, neurons=[99])


def test_window_longer_than_recording_and_outside_it(ophys_file):
    with pytest.raises(InputDataError, match="longer than the whole recording"):
        read_nwb(ophys_file, presentations="trials", window=(0.0, 40.0))
    with pytest.raises(InputDataError, match="none of the windows"):
        read_nwb(ophys_file, presentations="trials", window=(100.0, 101.0))
    with pytest.raises(InputDataError, match="stop must be after start"):
        read_nwb(ophys_file, presentations="trials", window=(1.0, 0.0))


def test_rate_zero_without_timestamps(tmp_path):
    nwbfile = new_file()
    nwbfile.add_acquisition(TimeSeries(name="traces", data=index_code(20, 2), unit="a", rate=1.0))
    path = save(nwbfile, tmp_path / "rate0.nwb")
    with h5py.File(path, "a") as f:
        f["acquisition/traces/starting_time"].attrs["rate"] = 0.0
    with pytest.raises(InputDataError, match="rate is 0 and there are no timestamps"):
        read_nwb(path, activity="traces")
    with pytest.raises(ObjectNotFoundError, match="no neural activity found"):
        read_nwb(path)


def test_ambiguous_activity_lists_choices(tmp_path):
    nwbfile = new_file()
    for name in ("a", "b"):
        nwbfile.add_acquisition(TimeSeries(name=name, data=index_code(20, 2), unit="x", rate=1.0))
    path = save(nwbfile, tmp_path / "two.nwb")
    with pytest.raises(InputDataError, match="several activity sources") as err:
        read_nwb(path)
    assert "acquisition/a" in str(err.value) and "acquisition/b" in str(err.value)
    assert read_nwb(path, activity="b", window=10.0).attrs["activity"] == "acquisition/b"


def test_nan_event_times_are_left_out_with_a_warning(tmp_path):
    nwbfile = new_file()
    nwbfile.add_acquisition(TimeSeries(name="traces", data=index_code(100, 2), unit="a", rate=10.0))
    add_trials(nwbfile, [1.0, 2.0, 3.0], cue=[1.5, np.nan, 3.5])
    path = save(nwbfile, tmp_path / "nan.nwb")
    with pytest.warns(UserWarning, match="1 presentation"):
        da = read_nwb(path, presentations="trials", window=(0.0, 0.2), align_to="cue")
    np.testing.assert_array_equal(da.values, expected_windows([15, 35], 2, range(2)))


def test_only_the_windows_are_read(tmp_path):
    """Chunks away from the windows are corrupted on disk: reading must never touch them."""
    nwbfile = new_file()
    data = H5DataIO(index_code(100_000, 4), chunks=(1000, 4), compression="gzip", fletcher32=True)
    nwbfile.add_acquisition(TimeSeries(name="long", data=data, unit="a", rate=1000.0))
    events = 0.5 + 2.0 * np.arange(50)  # windows within the first 100 s = the first 100 chunks
    add_trials(nwbfile, events)
    path = save(nwbfile, tmp_path / "long.nwb")
    with h5py.File(path, "r") as f:
        info = [f["acquisition/long/data"].id.get_chunk_info(i) for i in range(100)]
    used = {int((s + k) // 1000) for s in (events * 1000).astype(int) for k in (0, 99)}
    damaged = [c for i, c in enumerate(info) if i not in used]
    with open(path, "r+b") as raw:
        for chunk in damaged:
            raw.seek(chunk.byte_offset)
            raw.write(b"\xff" * chunk.size)
    da = read_nwb(path, presentations="trials", window=(0.0, 0.1))
    starts = (events * 1000).astype(int)
    np.testing.assert_array_equal(da.values, expected_windows(starts, 100, range(4)))
    lazy = read_nwb(path, presentations="trials", window=(0.0, 0.1), lazy=True)
    np.testing.assert_array_equal(lazy.isel(presentations=[3, 40]).values, da.values[:, :, [3, 40]])
    with pytest.raises(NwbSaeError), open_activity(path) as src:
        src.read(0, 100_000)  # the whole series does hit the damaged chunks
