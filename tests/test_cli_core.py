"""`nwb-sae train` and `nwb-sae inference` end to end on small array files."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

from nwb_sae import load
from nwb_sae.cli import main
from nwb_sae.synthetic import make_recording

SMALL = ["--embedding_dim", "32", "--k", "3", "--epochs", "3", "--batch-size", "256", "--quiet"]


@pytest.fixture(scope="module")
def npy(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    rec = make_recording(n_neurons=12, n_atoms=16, n_time=15, n_presentations=40, seed=2)
    np.save(folder / "rec.npy", rec.data.values)
    return folder / "rec.npy"


@pytest.fixture(scope="module")
def trained(npy, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert main(["train", "--data_path", str(npy), "--output_dir", str(out), *SMALL]) == 0
    return out


def test_train_writes_checkpoint_history_and_figures(trained):
    assert (trained / "checkpoints" / "best_model.safetensors").exists()
    assert (trained / "checkpoints" / "best_model.json").exists()
    history = json.loads((trained / "history.json").read_text())
    assert history["epoch"] == list(range(1, len(history["epoch"]) + 1))  # the seeds' fits, one after the other
    assert len(history["val_loss"]) == len(history["epoch"]) >= 3
    figures = sorted(p.name for p in (trained / "figures").glob("*.png"))
    assert figures == ["code_statistics.png", "dictionary.png", "history.png", "reconstructions.png"]
    assert all(p.stat().st_size > 5000 for p in (trained / "figures").glob("*.png"))
    sae = load(trained / "checkpoints" / "best_model.safetensors")
    assert sae.n_latents == 32 and sae.get_params()["k"] == 3


@pytest.mark.parametrize("method", ["ica", "nmf"])
def test_train_method_baseline_writes_metrics_patterns_and_figures(npy, tmp_path, method):
    data = tmp_path / "rates.npy"  # NMF needs non-negative data (it says so otherwise)
    np.save(data, np.abs(np.load(npy)))
    assert main(["train", "--data_path", str(data), "--output_dir", str(tmp_path), "--method", method,
                 "--quiet"]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["method"] == method and metrics["n_latents"] >= 1
    meta = json.loads((tmp_path / "checkpoints" / "best_model.json").read_text())
    assert meta["method"] == method and len(meta["latent_table"]["data"]) == metrics["n_latents"]
    assert (tmp_path / "checkpoints" / "best_model.safetensors").exists()
    assert sorted(p.name for p in (tmp_path / "figures").glob("*.png")) == ["code_statistics.png", "dictionary.png"]


def test_inference_writes_codes_metrics_and_figures(npy, trained, tmp_path):
    out = tmp_path / "inf"
    model = trained / "checkpoints" / "best_model.safetensors"
    assert main(["inference", "--data-path", str(npy), "--model-path", str(model),
                 "--output-dir", str(out), "--num_samples", "2", "--batch-size", "7", "--device", "cpu"]) == 0
    codes = xr.open_dataarray(out / "codes.nc")
    assert codes.dims == ("latents", "time", "presentations") and codes.shape == (32, 15, 40)
    expected = load(model).encode(np.load(npy))  # one batch, not batches of 7: equal up to float32 rounding
    np.testing.assert_allclose(codes.values, expected.values, rtol=1e-5, atol=1e-6)
    recon = xr.open_dataarray(out / "reconstructions.nc")
    assert recon.dims == ("neurons", "time", "presentations")
    summary = json.loads((out / "metrics.json").read_text())
    assert set(summary) >= {"fvu", "l0", "dead_fraction"} and summary["l0"] <= 3
    assert (out / "figures" / "codes_presentation_1.png").exists()
    assert not (out / "figures" / "codes_presentation_2.png").exists()


def test_python_dash_m_runs_the_same_cli():
    result = subprocess.run([sys.executable, "-m", "nwb_sae", "train", "--help"], capture_output=True,
                            text=True, check=True)
    assert "--embedding_dim" in result.stdout and "--sparsity_weight" in result.stdout


def test_inference_with_wrong_neuron_count_writes_nothing(trained, tmp_path, capsys):
    other = tmp_path / "other.npy"
    np.save(other, np.random.default_rng(0).normal(size=(7, 15, 40)))
    out = tmp_path / "never"
    status = main(["inference", "--data_path", str(other), "--model_path",
                   str(trained / "checkpoints" / "best_model.safetensors"), "--output_dir", str(out)])
    assert status == 2
    err = capsys.readouterr().err
    assert "other.npy: has 7 neurons, but the model was trained on 12" in err
    assert not out.exists()


def test_train_bad_input_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "bad.npy"
    data = np.random.default_rng(0).normal(size=(5, 10, 8))
    data[2, 3, 4] = np.inf
    np.save(bad, data)
    out = tmp_path / "out"
    assert main(["train", "--data_path", str(bad), "--output_dir", str(out), *SMALL]) == 2
    assert "bad.npy: 1 NaN/Inf value(s)" in capsys.readouterr().err
    assert not out.exists()
    np.save(bad, np.zeros((5, 10)))
    assert main(["train", "--data_path", str(tmp_path / "missing.npy"), "--output_dir", str(out)]) == 2
    assert "no such file" in capsys.readouterr().err


def test_missing_and_corrupt_model(npy, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["inference", "--data_path", str(npy), "--model_path", str(tmp_path / "none.safetensors"),
                 "--output_dir", str(out)]) == 2
    assert "no such checkpoint" in capsys.readouterr().err
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a checkpoint")
    (tmp_path / "broken.json").write_text("{}")
    assert main(["inference", "--data_path", str(npy), "--model_path", str(broken),
                 "--output_dir", str(out)]) == 2
    assert "corrupt" in capsys.readouterr().err
    assert not out.exists()


def test_npz_and_netcdf_inputs(tmp_path, trained):
    rec = make_recording(n_neurons=12, n_atoms=16, n_time=15, n_presentations=40, seed=2)
    np.savez(tmp_path / "rec.npz", data=rec.data.values)
    rec.data.to_netcdf(tmp_path / "rec.nc")
    model = str(trained / "checkpoints" / "best_model.safetensors")
    for name in ("rec.npz", "rec.nc"):
        out = tmp_path / f"out_{name}"
        assert main(["inference", "--data_path", str(tmp_path / name), "--model_path", model,
                     "--output_dir", str(out), "--num_samples", "1"]) == 0
        assert xr.open_dataarray(out / "codes.nc").shape == (32, 15, 40)


def test_nwb_selection_flags_reach_the_reader(tmp_path):
    """--neurons and --where select neurons and presentations of an NWB input."""
    from nwb_sae.io.recording.nwb import read_nwb
    from nwb_sae.synthetic import write_nwb_recording

    rec = make_recording(n_neurons=12, n_atoms=16, n_time=10, n_presentations=40, seed=3)
    path = write_nwb_recording(tmp_path / "rec.nwb", rec)
    window = f"{rec.data['time'].values[0]},{rec.data['time'].values[-1] + rec.data.attrs['bin_size']}"
    out = tmp_path / "run"
    assert main(["train", "--data_path", str(path), "--presentations", "trials", f"--window={window}",
                 "--neurons", "0,2,4,6,8,10", "--where", "condition < 4", "--output_dir", str(out),
                 "--no_figures", *SMALL]) == 0
    sae = load(out / "checkpoints" / "best_model")
    wanted = read_nwb(path, presentations="trials", window=tuple(float(v) for v in window.split(",")),
                      neurons=[0, 2, 4, 6, 8, 10], where="condition < 4")
    assert sae.n_neurons == 6 and sae.neuron_coords_["id"] == wanted["neurons"].values.tolist()
    assert sae.data_attrs_["n_presentations"] == int((rec.data["condition"] < 4).sum())


def test_batch_refuses_a_baseline_method_with_a_clear_message(npy, tmp_path, capsys):
    assert main(["batch", "--data_path", str(npy), "--output_dir", str(tmp_path), "--method", "ica"]) == 2
    assert "batch trains the SAE only" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
