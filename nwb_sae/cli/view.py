"""``nwb-sae view FILE.nwb``: open napari with the file's layers and the SAE code browser docked."""

from __future__ import annotations

import argparse
from pathlib import Path

from nwb_sae.cli._common import add_flag
from nwb_sae.errors import NwbSaeError, UnsupportedFileError


def register(subparsers) -> None:
    """Add the ``view`` verb."""
    parser = subparsers.add_parser(
        "view", help="browse an NWB file's SAE codes and dictionary in napari",
        description="Open napari with the recording (presentations x neurons x time), the SAE codes "
                    "(presentations x latents x time) and the ROIs painted by a latent's atom, with the "
                    "'SAE code browser' docked. Needs the napari extra: pip install 'nwb-sae[napari]'.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("file", type=Path, help="an NWB file written by `nwb-sae inference --nwb_out`")
    add_flag(parser, "module", default="sae", help="processing module holding the results")
    parser.set_defaults(func=run)


def open_in_viewer(viewer, path, module: str = "sae"):
    """Dock the SAE code browser in ``viewer`` and open ``path`` in it.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
    path : str or Path
    module : str

    Returns
    -------
    SaeBrowserWidget
        The docked widget; a file it cannot show leaves a message in it.
    """
    _, widget = viewer.window.add_plugin_dock_widget("nwb-sae", "SAE code browser")
    widget.load(path, module)
    return widget


def run(args: argparse.Namespace, block: bool = True) -> int:
    """Open napari on ``args.file`` (blocks until the window is closed unless ``block`` is False)."""
    path = Path(args.file)
    if not path.is_file():
        raise UnsupportedFileError(f"{path}: no such file.")
    try:
        import napari
    except ImportError as err:
        raise NwbSaeError("`nwb-sae view` needs napari: pip install 'nwb-sae[napari]'.") from err
    viewer = napari.Viewer(title=f"nwb-sae: {path.name}")
    open_in_viewer(viewer, path, args.module)
    if block:
        napari.run()
    return 0
