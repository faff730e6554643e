"""Laziness of the napari reader: the first presentation shows without reading the whole codes.

The quick test runs on a small file. The measurement on a file with 1e6 code samples is opt-in
(it builds a ~1 GB file first)::

    NWB_SAE_BENCH=1 pytest tests/test_napari_lazy.py -s          # file cached in $NWB_SAE_BENCH_DIR
    xvfb-run -a python tests/test_napari_lazy.py LONG_sae.nwb     # measure an existing file

It reports the time from ``viewer.open`` to the first rendered image, the memory it took, and
the same for the widget's background pass over all presentations.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.usefixtures("qt_can_start")  # before pytest-qt's session-wide qapp


def _rss_mib() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _peak_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(path, module: str = "sae") -> dict:
    """Open ``path`` in a shown viewer; time to first image, memory, and the widget's full pass."""
    import h5py
    import napari
    from qtpy.QtWidgets import QApplication

    import nwb_sae.io.recording.nwb  # noqa: F401  (libraries loaded before timing: the numbers are the file's)
    import nwb_sae.io.results.read  # noqa: F401
    from nwb_sae.napari._layers import ROLE

    with h5py.File(path, "r") as f:
        n_samples, n_latents = f[f"processing/{module}/codes/data"].shape
    viewer = napari.Viewer(show=True)
    QApplication.processEvents()
    rss0 = _rss_mib()
    t0 = time.perf_counter()
    viewer.open(str(path), plugin="nwb-sae")
    image = viewer.screenshot(canvas_only=True, flash=False)  # renders the current presentation
    first_image_s = time.perf_counter() - t0
    rss1 = _rss_mib()
    codes = next(layer for layer in viewer.layers if layer.metadata.get(ROLE) == "codes")
    reads_at_first_image = codes.data.reads
    t1 = time.perf_counter()
    _, widget = viewer.window.add_plugin_dock_widget("nwb-sae", "SAE code browser")
    QApplication.processEvents()
    widget_ready_s = time.perf_counter() - t1
    ok = widget.wait_for_summary(3600)
    summary_s = time.perf_counter() - t1
    result = {
        "file": str(path), "code_samples": int(n_samples), "latents": int(n_latents),
        "codes_uncompressed_mib": round(n_samples * n_latents * 4 / 2**20, 1),
        "presentations": int(codes.data.shape[0]), "window_samples": int(codes.data.shape[2]),
        "time_to_first_image_s": round(first_image_s, 2),
        "presentations_read_for_first_image": int(reads_at_first_image),
        "rss_before_open_mib": round(rss0, 1), "rss_growth_at_first_image_mib": round(rss1 - rss0, 1),
        "first_image_std": float(image[..., :3].std()),
        "widget_ready_s": round(widget_ready_s, 2),
        "full_pass_done": bool(ok), "full_pass_s": round(summary_s, 2),
        "rss_growth_after_full_pass_mib": round(_rss_mib() - rss0, 1), "peak_rss_mib": round(_peak_mib(), 1),
    }
    viewer.close()
    return result


def test_first_presentation_reads_only_what_is_shown(make_napari_viewer, tmp_path_factory):
    from nwb_sae.napari._layers import ROLE
    from nwb_sae.napari._sample_data import SAMPLE_NAME, make_sample_file

    path = make_sample_file(tmp_path_factory.getbasetemp() / SAMPLE_NAME, kind="ophys")
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin="nwb-sae")
    layers = {layer.metadata.get(ROLE): layer for layer in viewer.layers}
    for role in ("codes", "activity"):
        data = layers[role].data
        assert data.reads <= 2, f"{role}: {data.reads} presentations read to show one"
        assert data.shape[0] > 10
    viewer.dims.set_current_step(0, 7)
    assert layers["codes"].data.reads <= 3


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("NWB_SAE_BENCH"), reason="set NWB_SAE_BENCH=1 to measure on 1e6 samples")
def test_time_to_first_image_on_a_million_code_samples(tmp_path_factory):
    folder = Path(os.environ.get("NWB_SAE_BENCH_DIR") or tmp_path_factory.mktemp("bench"))
    path = folder / "long_sae.nwb"
    if not path.exists():
        make_long_file(folder)
    # a fresh process, so memory numbers are this file's alone
    done = subprocess.run([sys.executable, __file__, str(path)], capture_output=True, text=True, check=True,
                          env=dict(os.environ))
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(json.dumps(result, indent=1))
    assert result["presentations_read_for_first_image"] <= 2
    assert result["rss_growth_at_first_image_mib"] < 0.25 * result["codes_uncompressed_mib"]
    assert result["first_image_std"] > 0


def make_long_file(folder, n_latents: int = 256) -> Path:
    """64 ROIs x 1e6 frames (20000 trials x 50 bins) and its codes over 256 latents, via nwb-sae's writers."""
    from nwb_sae import SAE, read_nwb, write_nwb
    from nwb_sae.synthetic import make_recording, write_nwb_recording

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rec = make_recording(n_neurons=64, n_atoms=128, n_time=50, n_presentations=20000, seed=3)
    source = write_nwb_recording(folder / "long.nwb", rec, kind="ophys", overwrite=True)
    del rec
    x = read_nwb(source, presentations="trials", window=(-0.5, 2.0)).isel(presentations=slice(0, 400))
    sae = SAE(n_latents=n_latents, k=8, epochs=3, batch_size=256, progress=False).fit(x)
    return write_nwb(sae, source, folder / "long_sae.nwb", overwrite=True)


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    print(json.dumps(measure(Path(sys.argv[1]))))
