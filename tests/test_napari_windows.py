"""The napari reader shows exactly the presentations and samples ``read_nwb`` cut for training.

The window is 4.5 samples long (0.225 s at 20 Hz), one event falls half-way between two samples and
the last window runs past the end of the recording: the three places where two window rules can
disagree (halves rounded to even or up, ties to the earlier or later sample, padding or dropping).
"""

from __future__ import annotations

import datetime
import warnings

import numpy as np
import pytest
from pynwb import NWBHDF5IO, NWBFile, TimeSeries

from nwb_sae import SAE, read_nwb, write_nwb
from nwb_sae.napari._layers import BROWSER, ROLE
from nwb_sae.napari._reader import read_nwb_layers

RATE = 20.0
N_SAMPLES = 400  # 20 s
WINDOW = (0.0, 0.225)  # 4.5 samples: read_nwb's rule gives 5
EVENTS = [1.0, 3.025, 5.0, 7.5, 10.05, 12.0, 14.5, 17.0, 19.9]  # 3.025 s: half-way; 19.9 s: runs past the end


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """A 20 Hz TimeSeries whose sample k of channel c is ``k + 1000 c``, with a trials table."""
    path = tmp_path_factory.mktemp("half_sample") / "recording.nwb"
    nwbfile = NWBFile(session_description="x.5-sample windows", identifier="half-sample",
                      session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc))
    values = np.arange(N_SAMPLES)[:, None] + 1000.0 * np.arange(6)[None, :]
    nwbfile.add_acquisition(TimeSeries(name="traces", data=values, unit="a.u.", rate=RATE))
    nwbfile.add_trial_column("condition", "stimulus condition")
    for i, event in enumerate(EVENTS):
        nwbfile.add_trial(start_time=event, stop_time=event + 0.5, condition=i % 3)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return path


@pytest.mark.parametrize("presentations", ["trials", None], ids=["trials", "consecutive"])
def test_reader_layers_match_read_nwb_on_a_half_sample_window(recording, presentations):
    out = recording.with_name(f"results_{presentations}.nwb")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the window past the end is dropped, with a warning
        x = read_nwb(recording, presentations=presentations, window=WINDOW)
    rng = np.random.default_rng(0)
    sae = SAE(n_latents=8, k=2, epochs=1, batch_size=16, progress=False, seed=0).fit(
        x + rng.normal(0, 1, x.shape).astype(np.float32))
    write_nwb(sae, recording, out)

    layers = {kwargs["metadata"][ROLE]: (data, kwargs) for data, kwargs, _ in read_nwb_layers(out)}
    (activity, kwargs), (codes, _) = layers["activity"], layers["codes"]
    browser = kwargs["metadata"][BROWSER]  # the layers keep the opened file alive through it

    assert x.sizes["time"] == 5  # 4.5 samples round up
    n_kept = x.sizes["presentations"]
    assert activity.shape == (n_kept, 6, 5) and codes.shape == (n_kept, 8, 5)
    assert browser.table["id"].tolist() == x["presentations"].values.tolist()
    np.testing.assert_allclose(browser.time, x["time"].values)
    # activity: read_nwb's samples, presentation for presentation
    raw = activity.raw(np.arange(n_kept))  # (shown z-scored per neuron, see test_napari_ensemble_view)
    np.testing.assert_array_equal(raw, x.transpose("presentations", "neurons", "time").values)
    # codes: the codes of those very samples
    expected = sae.encode(x).transpose("presentations", "latents", "time").values
    np.testing.assert_allclose(np.asarray(codes), expected, rtol=1e-4, atol=1e-5)
    if presentations == "trials":
        assert n_kept == len(EVENTS) - 1  # the window past the end is dropped, not padded
        assert "dropped 1" in browser.message
        tie = EVENTS.index(3.025)
        assert raw[tie][0].tolist() == [61.0, 62.0, 63.0, 64.0, 65.0]  # 60.5 samples: the later one
    assert not np.isnan(np.asarray(activity)).any() and not np.isnan(np.asarray(codes)).any()
