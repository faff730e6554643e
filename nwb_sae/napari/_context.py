"""Imaging context of the ROIs: the plane's mean / max / correlation image and which ROIs are cells.

Segmentation tools store summary images of the imaging plane beside the ROIs (suite2p's export:
``Backgrounds_0/meanImg``, ``max_proj``, ``Vcorr``; roiextractors: ``SegmentationImages/mean``,
``correlation``), as ``GrayscaleImage`` entries of an ``Images`` container in the same processing
module. The ROIs are shown over the first one found (correlation before mean before max: cells stand out in it).
A classifier's verdict (suite2p's ``iscell``, CaImAn's ``Accepted``, any boolean column) marks the
non-cells. Nothing here imports Qt or napari.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PREFERRED_IMAGES = ("corr", "mean", "max")
"""Name fragments of summary images, in the order they are preferred (the correlation image shows the cells)."""
CELL_COLUMNS = ("iscell", "is_cell", "accepted", "cell")
"""Neuron columns read as "this ROI is a cell" (1/True) when they hold only 0/1 values."""


@dataclass
class Background:
    """A summary image of the imaging plane, in the masks' (x, y) axes."""

    image: np.ndarray
    name: str
    path: str


def _score(name: str) -> int:
    low = name.lower()
    return next((i for i, key in enumerate(PREFERRED_IMAGES) if key in low), len(PREFERRED_IMAGES))


def find_background(path, table_path: str | None, shape: tuple[int, int]) -> Background | None:
    """The preferred summary image of the plane whose ROIs are at ``table_path``, or None.

    Only images at least as large as the masks in both axes are taken, cut to the masks' ``shape``:
    masks given as pixel lists only reach their largest ROI pixel, so the plane can be larger by a
    border without ROIs (an image smaller than the masks, e.g. cropped to the ROIs' bounding box,
    would not line up with them).

    Parameters
    ----------
    path : str or Path
        The NWB file.
    table_path : str
        The PlaneSegmentation (``processing/<module>/<ImageSegmentation>/<plane>``).
    shape : (int, int)
        Size of the field of view of the masks.
    """
    import h5py

    if not table_path or not table_path.startswith("processing/"):
        return None
    module = "/".join(table_path.split("/")[:2])
    found = []
    with h5py.File(path, "r") as f:
        group = f.get(module)
        if not isinstance(group, h5py.Group):
            return None
        for name, container in group.items():
            if not isinstance(container, h5py.Group) or _type(container) != "Images":
                continue
            for image_name, dset in container.items():
                if isinstance(dset, h5py.Dataset) and len(dset.shape) == 2 and _type(dset).endswith("Image") \
                        and dset.shape[0] >= shape[0] and dset.shape[1] >= shape[1]:
                    found.append((_score(image_name), f"{module}/{name}/{image_name}", image_name))
        if not found:
            return None
        _, where, name = min(found)
        image = np.asarray(f[where][: shape[0], : shape[1]], dtype=np.float32)
    return Background(image, name, where)


def _type(obj) -> str:
    value = obj.attrs.get("neurodata_type", "")
    return value.decode() if isinstance(value, bytes) else str(value)


def cell_column(columns: dict) -> tuple[str, np.ndarray] | None:
    """The column of the neuron table that says which ROIs are cells, and its values as booleans.

    Parameters
    ----------
    columns : dict
        Neuron column name -> values (one per neuron).

    Returns
    -------
    (name, is_cell) or None

    Examples
    --------
    >>> cell_column({"id": [0, 1, 2], "Accepted": [1, 0, 1]})
    ('Accepted', array([ True, False,  True]))
    >>> cell_column({"id": [0, 1], "x": [0.5, 2.0]}) is None
    True
    """
    for name, values in columns.items():
        if str(name).lower() not in CELL_COLUMNS:
            continue
        v = np.asarray(values)
        if v.ndim != 1:
            continue
        if v.dtype == bool:
            return str(name), v
        if v.dtype.kind in "iuf" and np.isin(v[np.isfinite(v.astype(float))], (0, 1)).all():
            return str(name), v.astype(float) > 0.5
    return None
