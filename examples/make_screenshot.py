"""Make ``docs/napari_widget.png``: the "SAE code browser" on an NWB file with nwb-sae results.

Usage::

    python examples/make_screenshot.py --demo               # the README's main job (`nwb-sae demo`)
    python examples/make_screenshot.py session_sae.nwb      # any file written by nwb-sae
    python examples/make_screenshot.py                      # a small synthetic recording, encoded here
    python examples/make_screenshot.py FILE --out shot.png --latent 12

``--demo`` shows ``nwb_sae_demo/recording_sae.nwb``, running ``nwb-sae demo`` first when that output is
missing (a few minutes on a laptop CPU). Without a file, the plugin's sample data is made: a
synthetic 2-photon recording with planted ensembles, an SAE trained on it for a few seconds, the
results written with ``nwb_sae.write_nwb``.
The window is shown on the current display; on a headless machine a virtual one is started
(Xvfb through PyVirtualDisplay), or run the script under ``xvfb-run -a``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _virtual_display(size=(1600, 1000)):
    """Start Xvfb when there is no display (Linux); returns the display to stop, or None."""
    if sys.platform != "linux" or os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    try:
        from pyvirtualdisplay import Display
    except ImportError:
        sys.exit("No display: install PyVirtualDisplay and Xvfb, or run under `xvfb-run -a`.")
    return Display(visible=False, size=size, color_depth=24).start()


def _process_events(rounds: int = 5) -> None:
    """Let Qt lay out the window and draw (no waiting on the clock: each round handles what is pending)."""
    from qtpy.QtWidgets import QApplication

    for _ in range(rounds):
        QApplication.processEvents()


def _wait_for_summary(widget, timeout_ms: int = 300_000) -> None:
    """Run Qt's event loop until the widget's averages over all presentations are shown."""
    from qtpy.QtCore import QEventLoop, QTimer

    if widget.summary is None:
        loop = QEventLoop()
        widget.summary_ready.connect(loop.quit)
        QTimer.singleShot(timeout_ms, loop.quit)
        loop.exec()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", nargs="?", type=Path, help="NWB file with nwb-sae results (default: sample)")
    parser.add_argument("--demo", nargs="?", type=Path, const=Path("nwb_sae_demo"), default=None, metavar="DIR",
                        help="show the output of `nwb-sae demo --output_dir DIR` (run it when missing)")
    parser.add_argument("--module", default="sae", help="processing module of the results")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "napari_widget.png")
    parser.add_argument("--latent", type=int, default=None,
                        help="latent to select (default: none, the first view as the browser opens)")
    parser.add_argument("--size", type=int, nargs=2, default=(1500, 920), metavar=("WIDTH", "HEIGHT"))
    args = parser.parse_args(argv)

    display = _virtual_display((args.size[0] + 100, args.size[1] + 100))
    try:
        path = args.file
        if path is None and args.demo is not None:
            path = args.demo / "recording_sae.nwb"
            if not path.exists():
                from nwb_sae.cli import main as nwb_sae_main

                print(f"running the main job: nwb-sae demo --output_dir {args.demo} ...", flush=True)
                if nwb_sae_main(["demo", "--output_dir", str(args.demo), "--quiet"]) != 0:
                    sys.exit("nwb-sae demo failed")
        if path is None:
            from nwb_sae.napari._sample_data import make_sample_file

            print("making the sample recording and its SAE results ...", flush=True)
            path = make_sample_file()
        import napari

        from nwb_sae.cli.view import open_in_viewer

        viewer = napari.Viewer(title=f"nwb-sae: {path.name}", show=True)
        viewer.window.resize(*args.size)
        widget = open_in_viewer(viewer, path, args.module)
        if widget.browser is None:
            sys.exit(f"cannot show {path}: {widget.message.text()}")
        _wait_for_summary(widget)
        latent = widget.latent  # the first view, as `nwb-sae view` opens it: no clicks, no view reset
        if args.latent is not None:
            widget.select_latent(args.latent)
            latent = args.latent
        _process_events()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        viewer.screenshot(str(args.out), canvas_only=False, flash=False)
        print(f"wrote {args.out} ({path.name}, latent {latent})")
        viewer.close()
    finally:
        if display is not None:
            display.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
