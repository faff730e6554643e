"""``nwb-sae batch`` / ``nwb_sae.batch``: many sessions as dask.distributed tasks, on real NWB files."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import nwb_sae
from nwb_sae.cli import main
from nwb_sae.sessions import dask_client, expand_inputs, is_complete, session_names
from nwb_sae.synthetic import make_recording, write_nwb_recording

SETTINGS = ["--embedding_dim", "16", "--activation", "topk", "--k", "2", "--epochs", "2", "--presentations", "trials", "--no_figures",
            "--quiet"]


@pytest.fixture
def sessions(tmp_path):
    """Three small NWB sessions and one whose file was cut short (a copy that did not finish)."""
    folder = tmp_path / "sessions"
    folder.mkdir()
    for i in range(3):
        rec = make_recording(n_neurons=8, n_atoms=16, n_time=10, n_presentations=12, seed=i)
        write_nwb_recording(folder / f"mouse{i}.nwb", rec)
    whole = (folder / "mouse0.nwb").read_bytes()
    (folder / "broken.nwb").write_bytes(whole[: len(whole) // 3])
    return folder


def read_summary(out):
    return pd.read_csv(out / "summary.csv").set_index("session")


def test_batch_runs_every_session_reports_the_broken_one_and_skips_finished_ones_on_rerun(sessions, tmp_path,
                                                                                          capsys):
    out = tmp_path / "out"
    code = main(["batch", "--data_path", str(sessions / "*.nwb"), "--output_dir", str(out), "--workers", "2",
                 *SETTINGS])
    assert code == 1  # one session failed
    summary = read_summary(out)
    assert list(summary.columns) == ["path", "status", "neurons", "samples", "ensembles", "fvu", "l0", "seconds",
                                     "error"]
    assert sorted(summary.index) == ["broken", "mouse0", "mouse1", "mouse2"]
    assert summary.loc["broken", "status"] == "failed"
    error = summary.loc["broken", "error"]
    assert error.startswith(str(sessions / "broken.nwb")) and "is truncated" in error and "Traceback" not in error
    for name in ("mouse0", "mouse1", "mouse2"):
        row = summary.loc[name]
        assert row["status"] == "done" and pd.isna(row["error"])
        data = nwb_sae.read_nwb(sessions / f"{name}.nwb", presentations="trials")
        assert (row["neurons"], row["samples"]) == (8, data.sizes["time"] * data.sizes["presentations"])
        assert 0 <= row["ensembles"] <= 16 and 0 < row["l0"] <= 2 and row["fvu"] >= 0  # significant ones
        folder = out / name
        with nwb_sae.read_results(folder / f"{name}_sae.nwb") as results:
            assert results.codes.sizes["latents"] == 16
            assert results.source["file"] == str(sessions / f"{name}.nwb")
        assert (folder / "checkpoints" / "best_model.safetensors").is_file()
        assert json.loads((folder / "metrics.json").read_text())["fvu"] == pytest.approx(row["fvu"])
    assert "1 failed" in capsys.readouterr().out

    # the same batch again, through the Python API with the same settings: finished sessions are skipped
    first_written = {n: (out / n / f"{n}_sae.nwb").stat().st_mtime_ns for n in ("mouse0", "mouse1", "mouse2")}
    again = nwb_sae.batch(str(sessions / "*.nwb"), out, workers=1, presentations="trials", figures=False,
                          n_latents=16, activation="topk", k=2, epochs=2, progress=False).set_index("session")
    assert again.loc[["mouse0", "mouse1", "mouse2"], "status"].tolist() == ["skipped"] * 3
    assert again.loc["broken", "status"] == "failed"  # tried again: it may have been copied anew
    assert {n: (out / n / f"{n}_sae.nwb").stat().st_mtime_ns for n in first_written} == first_written
    assert read_summary(out).loc["mouse1", "fvu"] == pytest.approx(summary.loc["mouse1", "fvu"])


def test_changed_settings_rerun_a_finished_session(tmp_path):
    rec = make_recording(n_neurons=6, n_atoms=8, n_time=8, n_presentations=10, seed=3)
    path = write_nwb_recording(tmp_path / "s.nwb", rec)
    out = tmp_path / "out"
    first = nwb_sae.batch([path], out, workers=1, figures=False, presentations="trials", n_latents=8, k=2, epochs=1, progress=False)
    assert first["status"].tolist() == ["done"]
    plan = json.loads((out / "s" / "done.json").read_text())["plan"]
    assert is_complete(out / "s", plan)
    assert not is_complete(out / "s", {**plan, "settings": {**plan["settings"], "k": 3}})
    second = nwb_sae.batch([path], out, workers=1, figures=False, presentations="trials", n_latents=8, k=3, epochs=1, progress=False)
    assert second["status"].tolist() == ["done"]
    with nwb_sae.read_results(out / "s" / "s_sae.nwb") as results:
        assert results.provenance["settings"]["k"] == 3


def test_local_cluster_listens_on_localhost_only_and_is_closed():
    with dask_client(workers=1) as client:
        info = client.scheduler_info()
        assert info["address"].startswith("tcp://127.0.0.1:")
        assert info["workers"] and all(a.startswith("tcp://127.0.0.1:") for a in info["workers"])
        assert client.submit(sum, [1, 2]).result() == 3
        cluster = client.cluster
    assert client.status == "closed" and cluster.status.name == "closed"


def test_a_running_scheduler_can_be_given_by_address(tmp_path):
    from distributed import LocalCluster

    rec = make_recording(n_neurons=6, n_atoms=8, n_time=8, n_presentations=10, seed=4)
    path = write_nwb_recording(tmp_path / "s.nwb", rec)
    with LocalCluster(n_workers=1, threads_per_worker=1, host="127.0.0.1", dashboard_address=None) as cluster:
        summary = nwb_sae.batch(str(path), tmp_path / "out", scheduler=cluster.scheduler_address, figures=False,
                                presentations="trials",
                                n_latents=8, k=2, epochs=1, progress=False)
    assert summary["status"].tolist() == ["done"]
    assert (tmp_path / "out" / "s" / "s_sae.nwb").is_file()


def test_inputs_and_names(tmp_path):
    with pytest.raises(nwb_sae.InputDataError, match="matches no file"):
        expand_inputs(str(tmp_path / "*.nwb"))
    assert expand_inputs(["https://host/a.nwb", str(tmp_path / "b.nwb")]) == ["https://host/a.nwb",
                                                                              str(tmp_path / "b.nwb")]
    names = session_names(["/data/m1/ses.nwb", "/data/m2/ses.nwb", "dandi://000001/sub-1/x.nwb"])
    assert names == {"m1__ses": "/data/m1/ses.nwb", "m2__ses": "/data/m2/ses.nwb",
                     "x": "dandi://000001/sub-1/x.nwb"}
    assert session_names(["/a/one.nwb", "https://h/two.nwb?x=1"]) == {"one": "/a/one.nwb",
                                                                      "two": "https://h/two.nwb?x=1"}


def test_invalid_settings_are_refused_before_any_work(tmp_path):
    with pytest.raises(nwb_sae.InputDataError, match="invalid settings"):
        nwb_sae.batch(["x.nwb"], tmp_path / "out", n_latents=8, activation="nope")
    with pytest.raises(nwb_sae.InputDataError, match="workers must be at least 1"):
        nwb_sae.batch(["x.nwb"], tmp_path / "out", workers=0)
    assert not (tmp_path / "out").exists()
