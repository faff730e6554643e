"""The array-level layer of the writer: statistics, provenance rows, time bases, bounded memory (no model)."""

from __future__ import annotations

import datetime

import numpy as np
import pytest

from nwb_sae.errors import InputDataError, UnsupportedFileError
from nwb_sae.io.results.read import read_results
from nwb_sae.io.results.schema import WRITER, flatten, unflatten
from nwb_sae.io.results.write import ResultsToWrite, write_results
from nwb_sae.io.results.write_codes import CodeStream, LatentStats, default_chunk_rows
from nwb_sae.io.results.write_tables import TimeBase, time_base

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_latent_stats_over_blocks_match_numpy_and_skip_nan():
    rng = np.random.default_rng(0)
    codes = np.maximum(rng.normal(size=(1000, 6)), 0).astype(np.float32)
    codes[:, 5] = 0.0  # a dead latent
    codes[10, :] = np.nan  # a NaN input sample
    stats = LatentStats(6)
    for start in range(0, 1000, 128):
        stats.update(codes[start:start + 128])
    result = stats.result()
    valid = np.delete(codes, 10, axis=0)
    np.testing.assert_allclose(result["activation_frequency"], (valid != 0).mean(0))
    np.testing.assert_allclose(result["mean_activation"], valid.mean(0), rtol=1e-6)
    np.testing.assert_allclose(result["std_activation"][:5], valid.std(0)[:5], rtol=1e-4)
    np.testing.assert_allclose(result["max_activation"], valid.max(0))
    assert np.isnan(result["mean_active_activation"][5]) and stats.n_invalid == 1


def test_provenance_rows_round_trip_and_contain_no_dict_strings():
    from nwbinspector.utils import is_dict_in_string

    record = {
        "model": {"settings": {"n_latents": 8, "lr": None, "activation": "topk"},
                  "history": {"loss": [1.0, 0.5, float("nan")]},
                  "runs": [{"seed": 0, "fvu": 0.2}, {"seed": 1, "fvu": [0.1, {"x": 1}]}],
                  "odd/keys": {"a~b": 1, "[0]": True, "": "empty key"}, "empty": {}, "none": []},
        "source": {"activity": "units", "bin_size": np.float32(0.05), "ids": np.arange(3)},
    }
    rows = flatten(record)
    assert not any(is_dict_in_string(value) for _, value in rows)
    back = unflatten(rows)
    assert back["model"]["runs"] == [{"seed": 0, "fvu": 0.2}, {"seed": 1, "fvu": [0.1, {"x": 1}]}]
    assert back["model"]["odd/keys"] == {"a~b": 1, "[0]": True, "": "empty key"}
    assert back["model"]["settings"] == record["model"]["settings"]
    assert np.isnan(back["model"]["history"]["loss"][2])
    assert back["source"] == {"activity": "units", "bin_size": 0.05000000074505806, "ids": [0, 1, 2]}
    assert back["model"]["empty"] == {} and back["model"]["none"] == []


def test_time_base_rules():
    assert time_base(4, rate=30.0, starting_time=2.0) == TimeBase(30.0, 2.0)
    regular = 5.0 + np.arange(100) * 0.02
    base = time_base(100, timestamps=regular, link="acquisition/x")
    assert base.rate == pytest.approx(50.0) and base.starting_time == 5.0 and base.link is None
    jitter = regular + np.r_[0, np.full(99, 1e-4)] * np.arange(100) % 3e-4
    base = time_base(100, timestamps=jitter, link="acquisition/x")
    assert base.rate is None and base.link == "acquisition/x"
    np.testing.assert_array_equal(base.timestamps, jitter)
    with pytest.raises(ValueError):
        time_base(3, rate=0.0)
    with pytest.raises(ValueError):
        time_base(3, timestamps=[0.0, 1.0])


def test_code_stream_blocks_and_shape_checks():
    assert default_chunk_rows(1024, 10**6) == 256
    stream = CodeStream(lambda a, b: np.ones((b - a, 3), np.float32), 10, 3, chunk_rows=4, block_rows=9)
    assert stream.block_rows == 8  # a whole number of chunks
    assert [c.selection[0] for c in stream] == [slice(0, 8), slice(8, 10)]
    bad = CodeStream(lambda a, b: np.ones((b - a, 2), np.float32), 10, 3)
    with pytest.raises(InputDataError, match="expected"):
        next(bad)
    with pytest.raises(InputDataError):
        CodeStream(lambda a, b: None, 0, 3)


@pytest.fixture(scope="module")
def small_nwb(tmp_path_factory):
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries

    path = tmp_path_factory.mktemp("arrays") / "small.nwb"
    nwbfile = NWBFile(session_description="arrays", identifier="arrays",
                      session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc))
    nwbfile.add_acquisition(TimeSeries(name="signal", data=np.zeros((10, 4), "f4"), unit="V", rate=10.0,
                                       description="four channels"))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return path


def generated_results(n_samples: int, n_latents: int = 64, block_rows: int = 2048) -> ResultsToWrite:
    """Codes made up block by block (never held whole), as an encoder would produce them."""

    def read(start, stop):
        rng = np.random.default_rng(start)
        return np.maximum(rng.normal(size=(stop - start, n_latents)), 0).astype(np.float32)

    atoms = np.eye(n_latents, 4)
    return ResultsToWrite(
        codes=CodeStream(read, n_samples, n_latents, chunk_rows=256, block_rows=block_rows),
        time_base=time_base(n_samples, rate=1000.0), dictionary=atoms, neuron_ids=np.array([10, 11, 12, 13]),
        neuron_labels={"depth": np.array([1.0, 2.0, 3.0, 4.0]), "region": np.array(["CA1", "CA1", "DG", "DG"])},
        neuron_table=None, neuron_rows=None,
        provenance={"model": {"settings": {"n_latents": n_latents}}, "source": {"activity": "acquisition/signal"},
                    "write": {"writer": WRITER}},
        description="generated results")


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field):
                return int(line.split()[1]) / 1e3
    raise KeyError(field)


def added_peak_rss(write) -> float:
    """Peak resident memory (MB) that ``write()`` adds, using Linux's resettable high-water mark."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset VmHWM to the current RSS
    except OSError:
        pytest.skip("needs Linux /proc/self/clear_refs to measure peak memory")
    before = _status_mb("VmRSS")
    write()
    return _status_mb("VmHWM") - before


def test_memory_does_not_grow_with_recording_length(small_nwb, tmp_path):
    n = 400_000  # codes: 400k x 64 float32 = 102 MB; blocks of 2048 samples = 0.5 MB
    write_results(small_nwb, generated_results(1000), tmp_path / "warm.nwb")  # imports, namespace caches
    added = added_peak_rss(lambda: write_results(small_nwb, generated_results(n), tmp_path / "long.nwb"))
    codes_mb = n * 64 * 4 / 1e6
    # holding the codes even once would add >= 102 MB (one single block measures ~400 MB); streaming adds
    # the blocks, HDF5 caches and pynwb's read-back, about 35 MB here whatever the length
    assert added < 0.6 * codes_mb, f"writing {codes_mb:.0f} MB of codes added {added:.0f} MB of resident memory"
    res = read_results(tmp_path / "long.nwb")
    assert res.codes.shape == (n, 64)
    block = np.maximum(np.random.default_rng(149_504).normal(size=(2048, 64)), 0).astype(np.float32)
    np.testing.assert_array_equal(res.codes[150_000:150_010].values, block[496:506])
    assert list(res.dictionary["neurons"].values) == [10, 11, 12, 13]
    assert list(res.dictionary["region"].values) == ["CA1", "CA1", "DG", "DG"]
    assert "source_row" not in res.dictionary.coords  # no neuron table: ids only


def test_bad_module_names_and_stream_errors(small_nwb, tmp_path):
    with pytest.raises(InputDataError, match="module name"):
        write_results(small_nwb, generated_results(100), tmp_path / "x.nwb", module="a/b")
    results = generated_results(5000, block_rows=1024)

    def broken(start, stop):
        raise ValueError("the recording ends early")

    results.codes.read = broken
    with pytest.raises(ValueError, match="ends early"):  # the reader's own error, unchanged
        write_results(small_nwb, results, tmp_path / "x.nwb")
    assert list(tmp_path.iterdir()) == []


def test_unreadable_source_is_reported(tmp_path):
    fake = tmp_path / "fake.nwb"
    fake.write_bytes(b"\x89HDF\r\n" + b"\0" * 64)
    with pytest.raises(UnsupportedFileError, match="not an HDF5 file"):
        write_results(fake, generated_results(100), tmp_path / "out.nwb")
    assert [p.name for p in tmp_path.iterdir()] == ["fake.nwb"]
