"""Training that streams: block sources, streaming statistics, and a streamed fit against the in-memory one."""

import numpy as np
import pytest
import torch

from nwb_sae import metrics
from nwb_sae.estimator import SAE
from nwb_sae.samples import population_vectors, split_presentations
from nwb_sae.synthetic import make_recording
from nwb_sae.training import sources, streaming

da = pytest.importorskip("dask.array")


@pytest.fixture(scope="module")
def recording():
    return make_recording(n_neurons=12, n_atoms=16, n_time=10, n_presentations=120, seed=3)


def test_moments_merge_blocks_like_numpy():
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(1000, 5))
    moments = sources.Moments(5)
    for block in np.array_split(x, [7, 300, 301, 650]):
        moments.add(block)
    assert moments.count == 1000
    np.testing.assert_allclose(moments.mean, x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(moments.std, x.std(axis=0), rtol=1e-12)


def test_block_source_yields_each_training_sample_once_per_epoch(recording):
    data = recording.data.chunk({"presentations": 7}).data
    train_idx, _ = split_presentations(120, 0.2, 0, "rec")
    source = sources.BlockSource(data, train_idx, torch.device("cpu"))
    expected = population_vectors(recording.data.isel(presentations=train_idx))
    batches = list(source.batches(32, torch.Generator().manual_seed(0)))
    assert len(batches) == expected.shape[0] // 32 == source.n_samples // 32
    seen = torch.cat(batches).numpy()
    rows = {row.tobytes() for row in expected}
    assert all(row.tobytes() in rows for row in seen)
    assert len({row.tobytes() for row in seen}) == seen.shape[0]  # no sample twice
    np.testing.assert_array_equal(torch.cat(list(source.chunks(50))).numpy(), expected)


def test_streamed_fit_matches_in_memory_normalisation_and_recovers_atoms(recording, monkeypatch):
    # topk: the batchtopk ensemble fit is not streamed (it runs on a subsample: tests/test_large_default.py)
    params = dict(activation="topk", n_latents=32, k=3, epochs=8, patience=8, progress=False, device="cpu", threads=1)
    in_memory = SAE(**params).fit(recording.data)
    monkeypatch.setattr(streaming, "IN_MEMORY_BYTES", 0)
    lazy = recording.data.chunk({"presentations": 9})
    assert streaming.should_stream(lazy)
    streamed = SAE(**params).fit(lazy)
    for name in ("input_mean", "input_scale"):
        np.testing.assert_allclose(getattr(streamed.model_, name).numpy(),
                                   getattr(in_memory.model_, name).numpy(), rtol=1e-5, atol=1e-6)
    assert streamed.data_attrs_["val_presentations"] == in_memory.data_attrs_["val_presentations"]
    assert len(streamed.history_["val_loss"]) >= 1
    mmcs_streamed = metrics.mmcs(streamed.dictionary, recording.dictionary)
    mmcs_memory = metrics.mmcs(in_memory.dictionary, recording.dictionary)
    assert mmcs_streamed > mmcs_memory - 0.1
    assert streamed.metrics_["fvu"] == pytest.approx(
        streamed.report(recording.data.isel(presentations=_val(120)))["fvu"], rel=1e-4)


def _val(n):
    return split_presentations(n, 0.2, 0, "rec")[1]


def test_streamed_fit_refuses_nan_naming_the_recording(recording, monkeypatch):
    monkeypatch.setattr(streaming, "IN_MEMORY_BYTES", 0)
    bad = recording.data.copy()
    bad[2, 3, 5] = np.nan
    bad.attrs["source"] = "bad.nwb"
    from nwb_sae.errors import InputDataError

    with pytest.raises(InputDataError, match="bad.nwb.*NaN"):
        SAE(activation="topk", n_latents=8, k=2, epochs=1, progress=False, device="cpu").fit(
            bad.chunk({"presentations": 10}))


def test_cli_train_lazy_streams_an_nwb_file(recording, tmp_path, monkeypatch):
    from nwb_sae.cli import main
    from nwb_sae.estimator import load
    from nwb_sae.synthetic import write_nwb_recording

    path = write_nwb_recording(tmp_path / "rec.nwb", recording)
    monkeypatch.setattr(streaming, "IN_MEMORY_BYTES", 0)
    out = tmp_path / "run"
    assert main(["train", "--data_path", str(path), "--output_dir", str(out), "--lazy", "--presentations",
                 "trials", "--activation", "topk", "--n_latents", "16", "--k", "2", "--epochs", "2", "--device", "cpu",
                 "--quiet"]) == 0
    sae = load(out / "checkpoints" / "best_model")
    assert sae.data_attrs_["n_presentations"] == 120 and sae.n_neurons == 12
    assert (out / "figures" / "history.png").exists() and (out / "metrics.json").exists()
