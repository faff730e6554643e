"""NWB files over HTTP and from DANDI: a remote read equals the local read, byte for byte.

The files are served by a Range-capable HTTP server on 127.0.0.1 (``_http.RangeServer``); nothing leaves
the machine. DANDI addresses are resolved through a stand-in for the DANDI API, served the same way.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from _http import RangeServer

import nwb_sae
from nwb_sae.cli import main
from nwb_sae.io import remote
from nwb_sae.io.recording.describe import describe_file
from nwb_sae.synthetic import make_recording, write_nwb_recording

LOCATION_ATTRS = ("source", "file")  # the only attrs that say where the file was read from


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A small NWB file written here, served over HTTP: (server, local path, URL)."""
    folder = tmp_path_factory.mktemp("served")
    rec = make_recording(n_neurons=8, n_atoms=16, n_time=10, n_presentations=14, seed=5)
    path = write_nwb_recording(folder / "rec.nwb", rec)
    with RangeServer(folder) as server:
        yield server, path, f"{server.url}/rec.nwb"


@pytest.fixture(scope="module")
def corpus_server(corpus_dir):
    """The corpus served read-only over HTTP (nothing is copied)."""
    with RangeServer(corpus_dir) as server:
        yield server


def assert_same_read(remote_da, local_da, url, path):
    """Same bytes, same dtype, same coordinates, same attrs but for where the file was read from."""
    assert remote_da.dtype == local_da.dtype and remote_da.dims == local_da.dims
    assert remote_da.values.tobytes() == local_da.values.tobytes()
    assert remote_da.drop_attrs().identical(local_da.drop_attrs())
    assert remote_da.attrs["source"] == url and local_da.attrs["source"] == str(path)
    strip = {k: v for k, v in remote_da.attrs.items() if k not in LOCATION_ATTRS}
    assert strip == {k: v for k, v in local_da.attrs.items() if k not in LOCATION_ATTRS}


def test_read_nwb_over_http_equals_the_local_read(served):
    server, path, url = served
    server.requests.clear()
    assert_same_read(nwb_sae.read_nwb(url, presentations="trials"), nwb_sae.read_nwb(path, presentations="trials"),
                     url, path)
    data_requests = [r for r in server.requests if r[2] and r[2] != "bytes=0-0"]
    assert data_requests and all(r[2].startswith("bytes=") for r in data_requests)  # read by byte ranges
    lazy = nwb_sae.read_nwb(url, presentations="trials", window=(0.0, 0.2), lazy=True)
    assert lazy.chunks is not None  # windows are read when computed, through a new remote handle
    assert lazy.compute().values.tobytes() == nwb_sae.read_nwb(path, presentations="trials",
                                                              window=(0.0, 0.2)).values.tobytes()


def test_open_activity_and_load_data_accept_urls(served):
    _, path, url = served
    with nwb_sae.open_activity(url) as remote_src, nwb_sae.open_activity(path) as local_src:
        assert remote_src.n_samples == local_src.n_samples and remote_src.path == url
        np.testing.assert_array_equal(remote_src.read(0, remote_src.n_samples), local_src.read(0, local_src.n_samples))
    assert_same_read(nwb_sae.load_data(url, presentations="trials"), nwb_sae.load_data(path, presentations="trials"),
                     url, path)


@pytest.mark.corpus
@pytest.mark.parametrize("name, options", [
    ("ecephys/rutishauser-cb__sub-4_ses-4_ecephys+image.nwb",
     {"presentations": "encoding_table", "window": (-0.5, 1.5)}),
    ("ophys/suite2p-export__2022_08_08.nwb", {"window": 10.0, "neurons": "iscell"}),
])
def test_corpus_file_over_http_equals_the_local_read(corpus_dir, corpus_server, name, options):
    url = f"{corpus_server.url}/{name}"
    assert_same_read(nwb_sae.read_nwb(url, **options), nwb_sae.read_nwb(corpus_dir / name, **options),
                     url, corpus_dir / name)


def test_inspect_a_url(served, capsys):
    _, path, url = served
    remote_info, local_info = describe_file(url), describe_file(path)
    assert remote_info.pop("file") == url
    local_info.pop("file")
    assert remote_info == local_info
    assert main(["inspect", url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["activity"] == local_info["activity"]


def test_train_and_inference_from_a_url_write_a_local_copy_with_the_results(served, tmp_path):
    _, path, url = served
    flags = ["--presentations", "trials"]
    assert main(["train", "--data_path", url, "--output_dir", str(tmp_path / "run"), "--embedding_dim", "16",
                 "--k", "2", "--epochs", "2", "--no_figures", "--quiet", *flags]) == 0
    out = tmp_path / "rec_sae.nwb"
    assert main(["inference", "--data_path", url, "--model_path", str(tmp_path / "run/checkpoints/best_model"),
                 "--output_dir", str(tmp_path / "inference"), "--nwb_out", str(out), *flags]) == 0
    with nwb_sae.read_results(out) as results:
        assert results.source["file"] == url and results.source["file_name"] == "rec.nwb"
        assert results.codes.sizes["latents"] == 16
    # the local copy holds the source's objects unchanged
    assert_same_read(nwb_sae.read_nwb(out, presentations="trials").assign_attrs(source=url, file=url),
                     nwb_sae.read_nwb(path, presentations="trials"), url, path)
    with pytest.raises(nwb_sae.InputDataError, match="cannot be written in place"):
        nwb_sae.write_nwb(nwb_sae.load(tmp_path / "run/checkpoints/best_model"), url, in_place=True)


def test_missing_file_and_unreachable_server_give_clear_errors(served, tmp_path):
    server, _, _ = served
    with pytest.raises(nwb_sae.UnsupportedFileError, match=r"nope\.nwb: no such file on the server \(404"):
        nwb_sae.read_nwb(f"{server.url}/nope.nwb")
    with RangeServer(tmp_path) as gone:  # a port that was just free and is closed again
        address = gone.url
    with pytest.raises(nwb_sae.UnsupportedFileError, match="cannot connect"):
        nwb_sae.read_nwb(f"{address}/rec.nwb")


def test_not_an_hdf5_file_over_http(tmp_path):
    (tmp_path / "notes.nwb").write_bytes(b"these are not HDF5 bytes" * 100)
    with RangeServer(tmp_path) as server, pytest.raises(nwb_sae.UnsupportedFileError, match="is not an HDF5 file"):
        nwb_sae.read_nwb(f"{server.url}/notes.nwb")


def test_disk_cache_serves_a_second_read(served, tmp_path, monkeypatch):
    server, _, url = served
    monkeypatch.setenv(remote.CACHE_ENV, str(tmp_path / "cache"))
    first = nwb_sae.read_nwb(url, presentations="trials")
    server.requests.clear()
    second = nwb_sae.read_nwb(url, presentations="trials")
    assert second.values.tobytes() == first.values.tobytes()
    assert not [r for r in server.requests if r[2] and r[2] != "bytes=0-0"]  # no byte range fetched again
    assert any((tmp_path / "cache").rglob("*"))


def fake_dandi_api(folder, path, version="0.240101.0000"):
    """Routes answering the DANDI REST calls the resolver makes, for dandiset 000123."""
    listing = {"count": 1, "results": [{"asset_id": "a1b2", "path": "sub-1/sub-1_ses-1.nwb", "size": 1}]}
    return {
        "/api/dandisets/000123/": (json.dumps({"most_recent_published_version": {"version": version}}).encode(),
                                   "application/json"),
        f"/api/dandisets/000123/versions/{version}/assets/": (json.dumps(listing).encode(), "application/json"),
        "/api/dandisets/000123/versions/draft/assets/": (json.dumps({"count": 0, "results": []}).encode(),
                                                         "application/json"),
        "/api/assets/a1b2/download/": (path.read_bytes(), "application/octet-stream"),
    }


def test_dandi_addresses_resolve_through_the_dandi_api(served, monkeypatch):
    _, path, _ = served
    with RangeServer(path.parent, routes=fake_dandi_api(path.parent, path)) as api:
        monkeypatch.setenv(remote.DANDI_API_ENV, f"{api.url}/api")
        address = "dandi://123/sub-1/sub-1_ses-1.nwb"
        assert remote.resolve_url(address) == f"{api.url}/api/assets/a1b2/download/"
        assert remote.resolve_url("dandi://000123@0.240101.0000/sub-1/sub-1_ses-1.nwb") == remote.resolve_url(address)
        da = nwb_sae.read_nwb(address, presentations="trials")
        assert_same_read(da, nwb_sae.read_nwb(path, presentations="trials"), address, path)
        with pytest.raises(nwb_sae.ObjectNotFoundError, match="has no asset 'sub-1/other.nwb'"):
            nwb_sae.read_nwb("dandi://000123@draft/sub-1/other.nwb")
        with pytest.raises(nwb_sae.ObjectNotFoundError, match="DANDI has no dandiset 000999"):
            nwb_sae.read_nwb("dandi://999/sub-1/sub-1_ses-1.nwb")
    with pytest.raises(nwb_sae.UnsupportedFileError, match="not a DANDI address"):
        nwb_sae.read_nwb("dandi://sub-1/x.nwb")


def test_batch_over_urls(served, tmp_path):
    _, path, url = served
    summary = nwb_sae.batch([url], tmp_path / "out", workers=1, presentations="trials", figures=False,
                            n_latents=8, k=2, epochs=1, progress=False)
    assert summary[["session", "status"]].values.tolist() == [["rec", "done"]]
    with nwb_sae.read_results(tmp_path / "out/rec/rec_sae.nwb") as results:
        assert results.source["file"] == url


@pytest.mark.skipif(os.environ.get("NWB_SAE_TEST_DANDI") != "1",
                    reason="reaches the real DANDI archive: only when asked, with NWB_SAE_TEST_DANDI=1")
def test_real_dandi_asset():
    address = "dandi://000006/sub-anm369963/sub-anm369963_ses-20170228.nwb"
    info = describe_file(address)
    assert info["format"] == "nwb" and info["activity"]
    da = nwb_sae.read_nwb(address, presentations="trials", window=(0.0, 1.0), bin_size=0.1)
    assert da.dims == ("neurons", "time", "presentations") and da.sizes["time"] == 10
    assert da.attrs["source"] == address
