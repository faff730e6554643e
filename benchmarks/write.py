"""Benchmark: writing SAE codes of a whole recording into NWB versus the same array with plain h5py.

Builds a 64-neuron x 1e6-sample float32 recording as an NWB file (256 MB, a RoiResponseSeries over a
PlaneSegmentation, with planted ensembles so the codes are realistically sparse), fits a 1024-latent
top-k SAE briefly on a slice of it, then runs each way of writing the codes in a fresh subprocess:

* ``encode only``: read the recording block by block and encode it, writing nothing (the shared floor);
* ``h5py contiguous``: the same blocks written into an uncompressed, contiguous HDF5 dataset;
* ``h5py chunked gzip``: into a dataset chunked and compressed like nwb-sae's (the fair comparison);
* ``nwb_sae.write_nwb``: the full write-back: byte copy of the source, pynwb append of the codes,
  dictionary, neurons and provenance, read-back and schema validation, atomic rename.

Each is timed once (wall clock) and its peak resident memory is measured in its own process, together
with the memory the process had before writing (imports, model, open file), so the table shows what the
write itself adds. The codes alone are n_samples * n_latents * 4 bytes (4.1 GB at the defaults); the
point is that no way of writing holds them all.

    python benchmarks/write.py                       # several minutes on 2 cores; ~5 GB of disk in --dir
    python benchmarks/write.py --samples 100000      # a quick look
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

RATE = 30.0
BLOCK = 16384


def rss_mb() -> float:
    """Current resident memory of this process in MB (Linux /proc)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def peak_mb() -> float:
    """Peak resident memory of this process in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


def activity_block(start: int, stop: int, n_neurons: int, atoms: np.ndarray) -> np.ndarray:
    """Deterministic sparse-ensemble activity for samples start:stop (each block seeded by its start)."""
    rng = np.random.default_rng(start)
    n = stop - start
    weights = np.zeros((n, atoms.shape[0]), np.float32)
    idx = rng.integers(0, atoms.shape[0], size=(n, 4))
    np.put_along_axis(weights, idx, rng.uniform(0.5, 1.5, size=(n, 4)).astype(np.float32), axis=1)
    return (weights @ atoms + rng.normal(0, 0.1, size=(n, n_neurons))).astype(np.float32)


def make_source(path: Path, n_samples: int, n_neurons: int) -> None:
    """The recording as NWB: RoiResponseSeries (time, ROIs) over a PlaneSegmentation, written in blocks."""
    from hdmf.backends.hdf5 import H5DataIO
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.file import Subject
    from pynwb.ophys import Fluorescence, ImageSegmentation, OpticalChannel, RoiResponseSeries

    from nwb_sae.io.results.write_codes import CodeStream

    atoms = np.abs(np.random.default_rng(1).normal(size=(48, n_neurons))).astype(np.float32)
    nwbfile = NWBFile(session_description="write benchmark", identifier="write-benchmark",
                      session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
                      subject=Subject(subject_id="bench", species="Mus musculus", sex="U", age="P60D"))
    device = nwbfile.create_device(name="scope", description="two-photon microscope")
    plane = nwbfile.create_imaging_plane(
        name="plane", description="plane", device=device, excitation_lambda=920.0, imaging_rate=RATE,
        indicator="GCaMP6f", location="VISp",
        optical_channel=OpticalChannel(name="green", description="green", emission_lambda=510.0))
    segmentation = ImageSegmentation()
    rois = segmentation.create_plane_segmentation(name="PlaneSegmentation", description="rois", imaging_plane=plane)
    for i in range(n_neurons):
        mask = np.zeros((16, 16), np.float32)
        mask[i % 16, i // 16] = 1.0
        rois.add_roi(image_mask=mask)
    module = nwbfile.create_processing_module(name="ophys", description="ophys")
    module.add(segmentation)
    region = rois.create_roi_table_region(region=list(range(n_neurons)), description="all rois")
    stream = CodeStream(lambda a, b: activity_block(a, b, n_neurons, atoms), n_samples, n_neurons,
                        chunk_rows=4096, block_rows=BLOCK * 4)
    data = H5DataIO(stream, chunks=(4096, n_neurons))
    module.add(Fluorescence(roi_response_series=RoiResponseSeries(
        name="RoiResponseSeries", data=data, rois=region, unit="n.a.", rate=RATE, description="activity")))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)


def fit_model(source: Path, model: Path, n_latents: int) -> None:
    import nwb_sae
    from nwb_sae.io.recording.nwb import open_activity

    with open_activity(source) as act:
        x = act.read(0, min(act.n_samples, 40000) // 100 * 100)
    windows = x.reshape(-1, 100, x.shape[1]).transpose(2, 1, 0)  # (neurons, time, presentations)
    sae = nwb_sae.SAE(n_latents=n_latents, activation="topk", k=8, epochs=1, progress=False, device="cpu", seed=0)
    sae.fit(windows)
    sae.save(model)


# -- the variants, each run in its own process -----------------------------------------------------

def encoded_blocks(sae, act):
    for start in range(0, act.n_samples, BLOCK):
        stop = min(start + BLOCK, act.n_samples)
        yield start, stop, sae.encode_samples(act.read(start, stop))


def run_h5py(sae, source: Path, out: Path, compressed: bool) -> None:
    import h5py

    from nwb_sae.io.recording.nwb import open_activity
    from nwb_sae.io.results.write_codes import default_chunk_rows

    with open_activity(source) as act, h5py.File(out, "w") as h5:
        shape = (act.n_samples, sae.n_latents)
        options = {"chunks": (default_chunk_rows(sae.n_latents, act.n_samples), sae.n_latents),
                   "compression": "gzip", "compression_opts": 1} if compressed else {}
        dset = h5.create_dataset("codes", shape=shape, dtype="float32", **options)
        for start, stop, codes in encoded_blocks(sae, act):
            dset[start:stop] = codes


def run_encode_only(sae, source: Path) -> None:
    from nwb_sae.io.recording.nwb import open_activity

    total = 0.0
    with open_activity(source) as act:
        for _, _, codes in encoded_blocks(sae, act):
            total += float(codes[0, 0])


def run_variant(variant: str, source: Path, model: Path, out: Path) -> dict:
    warnings.simplefilter("ignore")
    import nwb_sae
    from nwb_sae.io.recording.nwb import open_activity
    from nwb_sae.io.results.write import write_nwb

    sae = nwb_sae.load(model)
    with open_activity(source) as act:  # warm the imports and the file's metadata
        sae.encode_samples(act.read(0, 16))
    before = rss_mb()
    start = time.perf_counter()
    if variant == "encode only":
        run_encode_only(sae, source)
    elif variant == "h5py contiguous":
        run_h5py(sae, source, out, compressed=False)
    elif variant == "h5py chunked gzip":
        run_h5py(sae, source, out, compressed=True)
    elif variant == "nwb_sae.write_nwb":
        write_nwb(sae, source, out, overwrite=True, progress=False, block_rows=BLOCK)
    else:
        raise ValueError(variant)
    seconds = time.perf_counter() - start
    size = out.stat().st_size if out.exists() else 0
    return {"variant": variant, "seconds": seconds, "peak_mb": peak_mb(), "before_mb": before, "file_mb": size / 1e6}


VARIANTS = ("encode only", "h5py contiguous", "h5py chunked gzip", "nwb_sae.write_nwb")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=float, default=1e6)
    parser.add_argument("--neurons", type=int, default=64)
    parser.add_argument("--latents", type=int, default=1024)
    parser.add_argument("--dir", type=Path, default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--variant", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    args = parser.parse_args(argv)
    folder = args.dir or Path(tempfile.mkdtemp(prefix="nwb-sae-write-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    source, model = folder / "recording.nwb", folder / "model"

    if args.variant:  # a child process: one measurement, printed as JSON
        slug = args.variant.replace(" ", "_").replace(".", "_")
        print(json.dumps(run_variant(args.variant, source, model, folder / f"{slug}.nwb")))
        return

    n_samples = int(args.samples)
    t = time.perf_counter()
    make_source(source, n_samples, args.neurons)
    print(f"source: {n_samples} samples x {args.neurons} neurons, {source.stat().st_size / 1e6:.0f} MB "
          f"({time.perf_counter() - t:.0f} s)", flush=True)
    fit_model(source, model, args.latents)
    rows = []
    for variant in VARIANTS:
        proc = subprocess.run([sys.executable, __file__, "--dir", str(folder), "--variant", variant,
                               "--samples", str(n_samples)], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"{variant} failed:\n{proc.stderr[-3000:]}")
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(f"  {variant}: {rows[-1]['seconds']:.1f} s", flush=True)
        for leftover in folder.glob("*.nwb"):
            if leftover != source:
                leftover.unlink()

    codes_gb = n_samples * args.latents * 4 / 1e9
    gzip = next(r for r in rows if r["variant"] == "h5py chunked gzip")
    print(f"\ncodes: {n_samples} samples x {args.latents} latents = {codes_gb:.2f} GB as float32\n")
    print("| way of writing | time (s) | x h5py gzip | peak RSS (MB) | added by writing (MB) | file (MB) |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        added = r["peak_mb"] - r["before_mb"]
        print(f"| {r['variant']} | {r['seconds']:.1f} | {r['seconds'] / gzip['seconds']:.2f} | {r['peak_mb']:.0f} | "
              f"{added:.0f} | {r['file_mb']:.0f} |")
    if args.json:
        print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
