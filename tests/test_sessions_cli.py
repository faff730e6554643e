"""End to end on real NWB files: per-session SAE fits written with write_nwb, `nwb-sae track`, read_results."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import nwb_sae
from nwb_sae.cli import main
from nwb_sae.synthetic.sessions import make_sessions, write_sessions_nwb


@pytest.fixture(scope="module")
def fitted_sessions(tmp_path_factory):
    """Three sessions of a small pool written as NWB files, each fitted (default SAE) and its results written."""
    folder = tmp_path_factory.mktemp("sessions")
    truth = make_sessions(n_pool=90, n_sessions=3, kinds={"stable": 2, "born": 1}, members=12, born_at=1,
                          duration=90, n_presentations=18, seed=21)
    sources = write_sessions_nwb(truth, folder / "raw")
    results = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, source in zip(truth.sessions, sources, strict=True):
            sae = nwb_sae.SAE(progress=False).fit(truth.data[name])
            (folder / "batch" / name).mkdir(parents=True)
            results[name] = nwb_sae.write_nwb(sae, source, folder / "batch" / name / f"{name}_sae.nwb",
                                              bin_size=0.025, progress=False)
    return truth, folder, results


@pytest.mark.slow
def test_track_verb_writes_tables_read_results_returns(fitted_sessions, tmp_path, capsys):
    truth, folder, results = fitted_sessions
    before = {name: path.read_bytes() for name, path in results.items()}
    truth.registry.to_csv(tmp_path / "registry.csv", index=False)
    out = tmp_path / "tracked"
    assert main(["track", "--results", str(folder / "batch"), "--registry", str(tmp_path / "registry.csv"),
                 "--output_dir", str(out)]) == 0
    assert "tracks over 3 sessions" in capsys.readouterr().out
    assert {name: path.read_bytes() for name, path in results.items()} == before  # inputs untouched
    table = pd.read_csv(out / "tracks.csv")
    assert {"track", "session", "latent", "cosine", "q_value", "status"} <= set(table.columns)
    assert (out / "tracks.png").stat().st_size > 0
    statuses = table.drop_duplicates("track")["status"].value_counts()
    assert statuses.get("persistent", 0) >= 2 and statuses.get("new", 0) >= 1

    with nwb_sae.read_results(out / "s1_tracked.nwb") as res:
        assert len(res.tracks) == res.dictionary.sizes["latents"]
        assert len(res.registry) == res.dictionary.sizes["neurons"]
        assert list(res.sessions["session"]) == ["s0", "s1", "s2"]
        assert list(res.sessions["file"]) == ["s0_tracked.nwb", "s1_tracked.nwb", "s2_tracked.nwb"]
        tracked = res.tracks[res.tracks["track"] >= 0]
        assert (tracked["n_sessions"] >= 1).all() and set(tracked["status"]) <= set(nwb_sae.sessions.STATUSES)
        assert res.sessions["registry_hash"].nunique() == 1
        np.testing.assert_array_equal(res.registry["source_id"].astype(str),
                                      res.dictionary["neurons"].values.astype(str))
    with nwb_sae.read_results(results["s1"]) as res:
        assert res.tracks is None


@pytest.mark.slow
def test_track_from_the_files_global_id_column(fitted_sessions, tmp_path, capsys):
    _, folder, results = fitted_sessions
    status = main(["track", "--results", *map(str, results.values()), "--registry_column", "global_id",
                   "--output_dir", str(tmp_path / "t")])
    assert status == 0, capsys.readouterr().err
    assert (tmp_path / "t" / "s0_tracked.nwb").exists()


def test_track_refuses_a_single_session(tmp_path, capsys):
    truth = make_sessions(n_pool=40, n_sessions=1, kinds={"stable": 1}, members=8, duration=5, n_presentations=2)
    paths = write_sessions_nwb(truth, tmp_path)
    status = main(["track", "--results", str(paths[0]), "--registry_column", "global_id",
                   "--output_dir", str(tmp_path / "t")])
    assert status == 2
    assert "at least two sessions" in capsys.readouterr().err
