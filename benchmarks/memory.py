"""Peak memory against recording length: one training epoch, inference and write-back of a 64-channel NWB series.

Each measurement runs in its own child process and reports that process's peak resident set size
(``resource.getrusage(...).ru_maxrss``), so one size cannot inflate the next. The series is written
chunked by this script (sparse planted ensembles plus noise) and read with ``read_nwb(..., lazy=True)``;
recordings above :data:`nwb_sae.training.streaming.IN_MEMORY_BYTES` are streamed block by block.

With ``--baseline DIR`` (a checkout of an older nwb_sae, e.g. ``git archive main | tar -x -C DIR``)
the in-memory training speed on a small recording is measured for both, in the same run.

    python benchmarks/memory.py --sizes 1e6 4e6 --folder /tmp/nwb-sae-memory
    python benchmarks/memory.py --sizes 1e6 4e6 --modes cli --folder /tmp/nwb-sae-memory  # `nwb-sae train` defaults
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

N_CHANNELS = 64
RATE = 1000.0
SETTINGS = dict(activation="topk", n_latents=256, k=6, epochs=1, patience=1, device="cpu", threads=1, progress=False)


def write_recording(path: Path, n_samples: int, n_channels: int = N_CHANNELS) -> Path:
    """A chunked NWB TimeSeries (samples x channels) written block by block (bounded memory)."""
    from datetime import datetime, timezone

    from hdmf.data_utils import GenericDataChunkIterator
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries

    atoms = np.random.default_rng(0).random((32, n_channels)) * (np.random.default_rng(1).random((32, n_channels)) < 0.2)

    class Planted(GenericDataChunkIterator):
        def _get_data(self, selection):
            rows = selection[0]
            n = rows.stop - rows.start
            rng = np.random.default_rng(rows.start)
            codes = rng.exponential(1.0, (n, 32)) * (rng.random((n, 32)) < 0.1)
            x = codes @ atoms + 0.1 * rng.standard_normal((n, n_channels))
            return x.astype(np.float32)[:, selection[1]]

        def _get_maxshape(self):
            return (n_samples, n_channels)

        def _get_dtype(self):
            return np.dtype("float32")

    chunk = min(16384, n_samples)
    data = Planted(chunk_shape=(chunk, n_channels), buffer_shape=(min(262144, n_samples) // chunk * chunk, n_channels),
                   display_progress=False)
    nwb = NWBFile(session_description="memory benchmark", identifier=f"memory-{n_samples}",
                  session_start_time=datetime(2026, 1, 1, tzinfo=timezone.utc))
    nwb.add_acquisition(TimeSeries(name="activity", data=data, unit="a.u.", rate=RATE))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


def child(mode: str, path: str, workdir: str) -> dict:
    """Run one measurement in this process and return its peak RSS (MB) and seconds."""
    import nwb_sae

    started = time.perf_counter()
    checkpoint = Path(workdir) / "model"
    if mode == "train":
        sae = nwb_sae.SAE(**SETTINGS).fit(nwb_sae.read_nwb(path, lazy=True))
        sae.save(checkpoint)
        extra = {"samples_per_second": sae.samples_per_second_}
    elif mode == "inference":
        sae = nwb_sae.load(checkpoint)
        codes = sae.encode(nwb_sae.read_nwb(path, lazy=True))
        extra = {"codes_shape": list(codes.shape)}
    elif mode == "write-back":
        from nwb_sae.io.results.write import write_nwb

        out = write_nwb(nwb_sae.load(checkpoint), path, Path(workdir) / "out.nwb", overwrite=True,
                        progress=False, validate=False)
        out.unlink()
        extra = {}
    elif mode == "cli":  # what a user types: the default ensemble fit, no --lazy, one epoch
        from nwb_sae.cli import main as cli

        status = cli(["train", "--data_path", path, "--embedding_dim", "256", "--epochs", "1", "--no_figures",
                      "--output_dir", str(Path(workdir) / f"cli-{Path(path).stem}")])
        extra = {"exit_status": status}
    else:  # "small": in-memory speed on a small planted recording
        from nwb_sae.synthetic import make_recording

        rec = make_recording(n_neurons=64, n_atoms=128, n_time=50, n_presentations=400, seed=0)
        sae = nwb_sae.SAE(**{**SETTINGS, "epochs": 3, "patience": 3}).fit(rec.data)
        extra = {"samples_per_second": sae.samples_per_second_}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    return {"mode": mode, "peak_rss_mb": round(peak), "seconds": round(time.perf_counter() - started, 1), **extra}


def measure(mode: str, path: Path, workdir: Path, pythonpath: str | None = None) -> dict:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    result = subprocess.run([sys.executable, __file__, "--child", mode, str(path), str(workdir)],
                            capture_output=True, text=True, env=env)
    if result.returncode:
        return {"mode": mode, "error": result.stderr.strip().splitlines()[-1]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", type=float, default=[1e6, 4e6], help="samples per recording")
    parser.add_argument("--modes", nargs="+", default=["train", "inference", "write-back"],
                        help="train / inference / write-back (topk, lazy); cli: `nwb-sae train --embedding_dim 256 "
                             "--epochs 1`, the default ensemble fit with no flag about memory")
    parser.add_argument("--folder", default="memory-benchmark", help="where the recordings are written")
    parser.add_argument("--baseline", default=None, help="an older nwb_sae checkout to compare in-memory speed")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    folder = Path(args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    print(f"{'samples':>10} {'MB float32':>10} {'mode':>11} {'peak RSS MB':>12} {'seconds':>8}")
    for size in args.sizes:
        n = int(size)
        path = folder / f"series_{n}.nwb"
        if not path.exists():
            write_recording(path, n)
        for mode in args.modes:
            row = measure(mode, path, folder)
            print(f"{n:>10} {n * N_CHANNELS * 4 / 2**20:>10.0f} {mode:>11} "
                  f"{row.get('peak_rss_mb', row.get('error')):>12} {row.get('seconds', ''):>8}", flush=True)
    here = str(Path(__file__).resolve().parents[1])
    for label, pythonpath in (("this checkout", here), ("baseline", args.baseline)):
        if pythonpath:
            row = measure("small", folder, folder, pythonpath)
            print(f"in-memory speed ({label}): {row.get('samples_per_second', row.get('error'))} samples/s, "
                  f"peak RSS {row.get('peak_rss_mb')} MB", flush=True)


if __name__ == "__main__":
    main()
