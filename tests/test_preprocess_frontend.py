"""The front end's rule (auto / deconvolve / none), where it runs, and that the model carries it:
SAE.fit, encode, the checkpoint, the readers' signal marker and the NWB results."""

import json

import numpy as np
import pytest

import nwb_sae
from nwb_sae import synthetic
from nwb_sae.errors import InputDataError
from nwb_sae.io.results.read import read_results
from nwb_sae.io.results.write import write_nwb
from nwb_sae.preprocess import Preprocessing, apply_preprocessing, preprocess

SMALL = dict(n_neurons=20, n_assemblies=2, members=5, duration=120.0, n_presentations=20)


@pytest.fixture(scope="module")
def calcium():
    return synthetic.make_assemblies(kind="calcium", seed=0, **SMALL).data


def test_auto_deconvolves_fluorescence_only(calcium):
    out, record = preprocess(calcium)
    assert record.method == "deconvolve" and record.scope == "continuous"
    assert out.attrs["preprocessed"] == "deconvolve" and out.dtype == np.float32
    assert out.shape == calcium.shape and (out.values >= 0).all()
    assert len(record.noise) == len(record.decay_time) == len(record.ar_coefficients) == 20
    assert record.baseline_window == 60.0 and record.frame_rate == pytest.approx(40.0)
    assert "deconvolved 20 neurons" in record.summary and "continuous recording" in record.summary
    # already deconvolved: never twice, whatever the setting
    assert preprocess(out, "deconvolve")[1].method == "none"

    spikes = synthetic.make_assemblies(kind="poisson", seed=0, **SMALL).data
    same, record = preprocess(spikes)
    assert same is spikes and record.method == "none" and "spikes" in record.summary
    unmarked = calcium.copy()
    unmarked.attrs = {}
    assert preprocess(unmarked)[1].method == "none"
    assert preprocess(unmarked, "deconvolve")[1].method == "deconvolve"
    assert preprocess(calcium, "none")[0] is calcium


def test_given_decay_and_indicator_are_used(calcium):
    assert preprocess(calcium, decay_time=0.5)[1].decay_time == [0.5] * 20
    marked = calcium.copy()
    marked.attrs["indicator"] = "GCaMP6s"
    record = preprocess(marked)[1]
    assert record.decay_source == "indicator GCaMP6s" and set(record.decay_time) == {1.5}


def test_trial_windows_are_deconvolved_one_by_one(calcium):
    """Windows that are not back to back (event times with gaps) cannot be joined into one recording."""
    n_t = calcium.sizes["time"]
    starts = np.arange(calcium.sizes["presentations"]) * (2 * n_t / 40.0)  # a gap after each window
    trials = calcium.assign_coords(start_time=("presentations", starts))
    trials.attrs = {"signal": "fluorescence", "align_to": "start_time"}
    out, record = preprocess(trials)
    assert record.scope == "per presentation" and "each presentation separately" in record.summary
    one, one_record = preprocess(trials.isel(presentations=[3]), decay_time=0.5)
    again, again_record = preprocess(trials, decay_time=0.5)
    # the same spikes for that window, in input units (each run divides by the noise it estimated)
    np.testing.assert_allclose(again.isel(presentations=3).values * np.array(again_record.noise)[:, None],
                               one.isel(presentations=0).values * np.array(one_record.noise)[:, None], atol=1e-4)


def test_deconvolution_needs_a_frame_rate():
    with pytest.raises(InputDataError, match="frame rate"):
        nwb_sae.SAE(preprocess="deconvolve", activation="topk", progress=False).fit(np.ones((50, 4)))
    with pytest.raises(ValueError, match="preprocess must be one of"):
        nwb_sae.SAE(preprocess="oasis", progress=False).fit(np.ones((50, 4)))


def test_the_model_carries_its_front_end(calcium, tmp_path):
    sae = nwb_sae.SAE(n_latents=8, k=2, activation="topk", epochs=2, progress=False, device="cpu")
    sae.fit(calcium)
    assert sae.preprocessing_.method == "deconvolve" and sae.data_attrs_["preprocessed"] == "deconvolve"
    deconvolved = apply_preprocessing(calcium, sae.preprocessing_)
    # encode deconvolves raw activity with the fitted parameters: the same codes as on deconvolved input
    np.testing.assert_allclose(sae.encode(calcium).values, sae.encode(deconvolved).values, atol=1e-5)
    sae.save(tmp_path / "model")
    again = nwb_sae.load(tmp_path / "model")
    assert again.preprocessing_ == sae.preprocessing_
    np.testing.assert_allclose(again.encode(calcium).values, sae.encode(calcium).values, atol=1e-5)
    assert json.loads(json.dumps(sae.provenance()))["preprocessing"]["method"] == "deconvolve"
    with pytest.raises(InputDataError, match="Hz"):
        sae.encode(calcium.assign_coords(time=calcium["time"].values * 2))


def test_constant_neurons_leave_the_record_with_the_model(calcium):
    data = calcium.copy()
    data[3] = 1.0
    sae = nwb_sae.SAE(n_latents=8, k=2, activation="topk", epochs=1, progress=False, device="cpu")
    with pytest.warns(UserWarning):
        sae.fit(data)
    assert len(sae.preprocessing_.noise) == sae.n_neurons == 19
    assert sae.encode(data).sizes["latents"] == 8


def test_nwb_readers_mark_the_signal_and_results_record_it(tmp_path):
    rec = synthetic.make_recording(n_neurons=12, n_atoms=8, n_time=20, n_presentations=30, seed=1)
    ophys = synthetic.write_nwb_recording(tmp_path / "ophys.nwb", rec, kind="ophys")
    units = synthetic.write_nwb_recording(tmp_path / "units.nwb", rec, kind="units")
    data = nwb_sae.read_nwb(ophys)
    assert data.attrs["signal"] == "dff"
    assert nwb_sae.read_nwb(units).attrs["signal"] == "spikes"
    sae = nwb_sae.SAE(n_latents=8, k=2, activation="topk", epochs=1, progress=False, device="cpu").fit(data)
    out = write_nwb(sae, ophys, tmp_path / "ophys_sae.nwb")
    written = read_results(out, lazy=False).preprocessing
    assert written["method"] == "deconvolve" and written["scope"] == "continuous"
    assert len(written["noise"]) == len(written["decay_time"]) == 12
    assert written == json.loads(json.dumps(sae.preprocessing_.to_json()))


@pytest.mark.corpus
def test_suite2p_export_fluorescence_is_deconvolved_and_its_deconvolved_series_is_not(corpus_dir):
    path = corpus_dir / "ophys" / "suite2p-export__2022_08_08.nwb"
    fluorescence = nwb_sae.read_nwb(path, activity="processing/ophys/Fluorescence/Fluorescence")
    deconvolved = nwb_sae.read_nwb(path, activity="processing/ophys/Deconvolved/Deconvolved")
    assert fluorescence.attrs["signal"] == "fluorescence" and fluorescence.attrs["indicator"] == "GCaMP"
    assert deconvolved.attrs["signal"] == "deconvolved"
    assert preprocess(fluorescence)[1].method == "deconvolve"
    assert preprocess(deconvolved)[1].method == "none"


def test_record_json_round_trip():
    record = Preprocessing(method="deconvolve", frame_rate=30.0, noise=[1.0, 2.0], decay_time=[0.5, 0.7])
    assert Preprocessing.from_json(record.to_json()) == record
    assert Preprocessing.from_json({**record.to_json(), "future_field": 1}) == record  # newer files still read


def test_trial_aligned_nwb_reads_deconvolve_before_windowing(tmp_path):
    """read_nwb(preprocess=...) deconvolves the continuous series and then cuts the trials; SAE.fit keeps that record."""
    rec = synthetic.make_assemblies(kind="calcium", seed=1, **SMALL)
    path = synthetic.write_nwb_recording(tmp_path / "calcium.nwb", rec, kind="ophys")
    window = (0.0, rec.data.sizes["time"] * 0.025)
    raw = nwb_sae.read_nwb(path, presentations="trials", window=window)
    early = nwb_sae.read_nwb(path, presentations="trials", window=window, preprocess="auto")
    record = json.loads(early.attrs["preprocessing"])
    assert early.attrs["preprocessed"] == "deconvolve" and "before windowing" in record["summary"]
    assert early.shape == raw.shape and (early.values >= 0).all()
    # the same as deconvolving the whole series, then cutting it
    with nwb_sae.io.recording.nwb.open_activity(path) as source:
        whole = source.read(0, source.n_samples)
    from nwb_sae.preprocess import apply_to_recording

    spikes = apply_to_recording(whole, Preprocessing.from_json(record))
    first = int(round(float(early["start_time"].values[0]) / 0.025))
    np.testing.assert_allclose(early.isel(presentations=0).values.T, spikes[first:first + early.sizes["time"]],
                               atol=1e-5)
    sae = nwb_sae.SAE(n_latents=8, k=2, activation="topk", epochs=1, progress=False, device="cpu").fit(early)
    assert sae.preprocessing_.method == "deconvolve" and "before windowing" in sae.preprocessing_.summary
    units = synthetic.write_nwb_recording(tmp_path / "units.nwb", rec, kind="units")
    assert "preprocessed" not in nwb_sae.read_nwb(units, presentations="trials", window=0.5,
                                                   preprocess="auto").attrs


def test_inference_scores_the_reconstruction_against_the_front_ends_output(tmp_path, capsys):
    """`nwb-sae inference` on fluorescence compares the model's reconstruction with the deconvolved
    traces it reconstructs (the corpus roiextractors file printed FVU 3,022 against the raw traces)."""
    from nwb_sae.cli import main

    rec = synthetic.make_recording(n_neurons=12, n_atoms=8, n_time=20, n_presentations=30, seed=1)
    ophys = synthetic.write_nwb_recording(tmp_path / "ophys.nwb", rec, kind="ophys")
    sae = nwb_sae.SAE(n_latents=8, k=2, activation="topk", epochs=1, progress=False, device="cpu")
    sae.fit(nwb_sae.read_nwb(ophys))
    assert sae.preprocessing_.method == "deconvolve"
    model = sae.save(tmp_path / "model")
    assert main(["inference", "--data_path", str(ophys), "--model_path", str(model),
                 "--output_dir", str(tmp_path / "out"), "--quiet"]) == 0
    printed = float(capsys.readouterr().out.split("FVU ")[1].split(",")[0])
    assert printed == pytest.approx(sae.report(nwb_sae.read_nwb(ophys))["fvu"], abs=2e-3)
    assert printed < 2.0
