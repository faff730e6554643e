"""Benchmark: windows from a long NWB series with read_nwb versus raw h5py slicing.

Writes a 64-neuron, 1e6-sample float32 TimeSeries (256 MB) twice with pynwb, once contiguous and
once chunked and gzip-compressed, with a trials table of 50 events; then times

* raw h5py: open the file, slice the 50 windows out of the dataset (the floor: no labels at all),
* ``read_nwb(path, presentations="trials", window=(-0.5, 1.5))`` (eager) and with ``lazy=True``
  followed by ``.compute()``,

best of ``--repeat`` runs each, and measures in fresh subprocesses the peak resident memory each
way adds to a process that has already imported everything.

    python benchmarks/read.py                # about a minute, needs ~0.6 GB of disk in --dir
"""

from __future__ import annotations

import argparse
import datetime
import json
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import h5py
import numpy as np

WINDOW = (-0.5, 1.5)
RATE = 1000.0
DATASET = "acquisition/activity/data"


def write_file(path: Path, n_samples: int, n_neurons: int, n_events: int, compressed: bool) -> None:
    from hdmf.backends.hdf5 import H5DataIO
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries

    rng = np.random.default_rng(0)
    # float16 precision keeps the values realistic for compression (neither random bits nor constant)
    values = rng.standard_normal((n_samples, n_neurons), dtype=np.float32).astype(np.float16).astype(np.float32)
    data = H5DataIO(values, chunks=(4096, n_neurons), compression="gzip", compression_opts=4) if compressed else values
    nwbfile = NWBFile(session_description="read benchmark", identifier=path.stem,
                      session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc))
    nwbfile.add_acquisition(TimeSeries(name="activity", data=data, unit="a.u.", rate=RATE))
    duration = n_samples / RATE
    for event in np.linspace(1.0, duration - 2.0, n_events):
        nwbfile.add_trial(start_time=float(event), stop_time=float(event) + 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with NWBHDF5IO(str(path), mode="w") as io:
            io.write(nwbfile)


def raw_h5py(path: Path) -> np.ndarray:
    """The floor: the same windows by hand, without labels, checks or pynwb."""
    with h5py.File(path, "r") as f:
        starts = np.floor((f["intervals/trials/start_time"][()] + WINDOW[0]) * RATE + 0.5).astype(int)
        dset = f[DATASET]
        n = int(round((WINDOW[1] - WINDOW[0]) * RATE))
        out = np.empty((dset.shape[1], n, len(starts)), dtype=np.float32)
        for p, s in enumerate(starts):
            out[:, :, p] = dset[s : s + n].T
    return out


def with_read_nwb(path: Path) -> np.ndarray:
    from nwb_sae.io.recording.nwb import read_nwb

    return read_nwb(path, presentations="trials", window=WINDOW).values


def with_read_nwb_lazy(path: Path) -> np.ndarray:
    from nwb_sae.io.recording.nwb import read_nwb

    return read_nwb(path, presentations="trials", window=WINDOW, lazy=True).compute().values


WAYS = {"raw h5py": raw_h5py, "read_nwb": with_read_nwb, "read_nwb lazy": with_read_nwb_lazy}


def best_time(func, path: Path, repeat: int) -> tuple[float, np.ndarray]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = func(path)
        best = min(best, time.perf_counter() - start)
    return best, result


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_memory_child(way: str, path: str) -> None:
    """Run in a subprocess: print the peak RSS increase (MB) that one read adds after the imports."""
    import dask.array  # noqa: F401  (imported up front so that only the read itself is measured)
    import pynwb  # noqa: F401
    import xarray  # noqa: F401

    import nwb_sae.io.recording.nwb  # noqa: F401

    before = _status_mb("VmRSS")
    try:  # Linux: reset the high-water mark so that VmHWM is the peak of the read alone
        Path("/proc/self/clear_refs").write_text("5")
        reset = True
    except OSError:
        reset = False
    out = WAYS[way](Path(path))
    peak = _status_mb("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_mb": peak - before, "out_mb": out.nbytes / 2**20}))


def peak_memory(way: str, path: Path) -> dict:
    done = subprocess.run([sys.executable, __file__, "--memory-child", way, str(path)], check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--neurons", type=int, default=64)
    parser.add_argument("--events", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="where to write the files (default: a temp dir)")
    parser.add_argument("--memory-child", nargs=2, metavar=("WAY", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        peak_memory_child(*args.memory_child)
        return
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        rows = []
        for compressed in (False, True):
            label = "chunked gzip" if compressed else "contiguous"
            path = Path(folder) / f"bench_{'gzip' if compressed else 'plain'}.nwb"
            start = time.perf_counter()
            write_file(path, args.samples, args.neurons, args.events, compressed)
            size_mb = path.stat().st_size / 2**20
            print(f"wrote {label} file: {size_mb:.0f} MB in {time.perf_counter() - start:.1f} s", file=sys.stderr)
            times, results = {}, {}
            for way, func in WAYS.items():
                times[way], results[way] = best_time(func, path, args.repeat)
            for way in WAYS:
                np.testing.assert_array_equal(results[way], results["raw h5py"])
            for way in WAYS:
                memory = peak_memory(way, path)
                rows.append((label, way, times[way], times[way] / times["raw h5py"], memory["peak_mb"],
                             memory["out_mb"], args.samples * args.neurons * 4 / 2**20, size_mb))
    print(f"\n{args.events} windows {WINDOW} s of a {args.neurons} x {args.samples:,} float32 series at "
          f"{RATE:g} Hz; best of {args.repeat}\n")
    print("| storage | way | time (s) | vs raw h5py | peak memory added (MB) | windows (MB) | series (MB) | file (MB) |")
    print("|---|---|---|---|---|---|---|---|")
    for label, way, seconds, ratio, peak, out, series, size in rows:
        print(f"| {label} | {way} | {seconds:.3f} | {ratio:.2f}x | {peak:.0f} | {out:.1f} | {series:.0f} | {size:.0f} |")


if __name__ == "__main__":
    main()
