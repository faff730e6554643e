"""ROI masks of a PlaneSegmentation, and painting each ROI by a weight (a dictionary atom).

The field of view is kept as an *owner* image: for every pixel, the index (along the neuron axis) of the
ROI whose mask is strongest there, or -1. Painting an atom is then one lookup, fast enough to follow
every click. Image, pixel and voxel masks are supported; volumes are projected along their last axis.

Axes follow the NWB schema: ``image_mask`` is (roi, x, y[, z]) and a pixel ``(x, y)`` of a
``pixel_mask`` is element ``[x, y]`` of that image, so both kinds give the same picture.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class RoiMasks:
    """Which ROI covers each pixel of the field of view.

    Attributes
    ----------
    owner : numpy.ndarray
        int32 (x, y): index of the ROI (position along the neuron axis) owning the pixel, -1 for none.
    strength : numpy.ndarray
        float32 (x, y): the owner's mask value at the pixel (0 where none).
    n_rois : int
        Number of ROIs (neurons) the owner indices refer to.
    source : str
        Where the masks came from, e.g. ``"processing/ophys/ImageSegmentation/PlaneSegmentation/image_mask"``.
    """

    owner: np.ndarray
    strength: np.ndarray
    n_rois: int
    source: str = ""

    @property
    def shape(self) -> tuple[int, int]:
        """Size of the field of view in pixels."""
        return tuple(self.owner.shape)


def _empty(shape) -> tuple[np.ndarray, np.ndarray]:
    return np.full(shape, -1, dtype=np.int32), np.zeros(shape, dtype=np.float32)


def masks_from_images(images, n_rois: int | None = None, first: int = 0, out=None) -> RoiMasks:
    """Owner image from dense masks shaped (roi, x, y) or (roi, x, y, z).

    Parameters
    ----------
    images : array-like
        Dense masks; may be a chunk of the ROIs when ``first`` says where it starts.
    n_rois : int, optional
        Total number of ROIs (default: ``len(images)``).
    first : int
        Index of ``images[0]`` along the neuron axis.
    out : RoiMasks, optional
        Masks to update (to build the owner image chunk by chunk).

    Returns
    -------
    RoiMasks

    Examples
    --------
    >>> m = np.zeros((2, 3, 3)); m[0, 0, 0] = 1; m[1, 0, 0] = 0.5; m[1, 2, 2] = 1
    >>> masks_from_images(m).owner.tolist()
    [[0, -1, -1], [-1, -1, -1], [-1, -1, 1]]
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 4:
        images = images.max(axis=3)
    if images.ndim != 3:
        raise ValueError(f"image masks must be (roi, x, y) or (roi, x, y, z), got shape {images.shape}")
    if out is None:
        out = RoiMasks(*_empty(images.shape[1:]), n_rois=int(n_rois or images.shape[0]))
    for i, image in enumerate(np.nan_to_num(images)):
        better = image > out.strength
        out.owner[better] = first + i
        out.strength[better] = image[better]
    return out


def masks_from_pixels(pixels: list[np.ndarray], shape: tuple[int, int] | None = None) -> RoiMasks:
    """Owner image from pixel (or voxel) masks: one array of rows ``(x, y[, z], weight)`` per ROI.

    Parameters
    ----------
    pixels : list of numpy.ndarray
        Per ROI, an (n, 3) or (n, 4) array; the last column is the weight.
    shape : (int, int), optional
        Size of the field of view (default: the largest coordinates + 1).

    Returns
    -------
    RoiMasks

    Examples
    --------
    >>> r = masks_from_pixels([np.array([[0, 1, 1.0]]), np.array([[2, 0, 1.0], [0, 1, 0.5]])])
    >>> r.owner.tolist()
    [[-1, 0], [-1, -1], [1, -1]]
    """
    arrays = [np.asarray(p, dtype=np.float64).reshape(-1, np.shape(p)[-1] if np.size(p) else 3)
              for p in pixels]
    if shape is None:
        xs = [a[:, 0].max() for a in arrays if a.size]
        ys = [a[:, 1].max() for a in arrays if a.size]
        shape = (int(max(xs, default=0)) + 1, int(max(ys, default=0)) + 1)
    out = RoiMasks(*_empty(shape), n_rois=len(arrays))
    for i, a in enumerate(arrays):
        if not a.size:
            continue
        x, y, w = a[:, 0].astype(np.int64), a[:, 1].astype(np.int64), a[:, -1].astype(np.float32)
        inside = (x >= 0) & (x < shape[0]) & (y >= 0) & (y < shape[1]) & (w > 0)
        x, y, w = x[inside], y[inside], w[inside]
        better = w > out.strength[x, y]
        out.owner[x[better], y[better]] = i
        out.strength[x[better], y[better]] = w[better]
    return out


def paint(masks: RoiMasks, weights: np.ndarray, background: float = 0.0) -> np.ndarray:
    """The field of view with each ROI's pixels set to that ROI's weight.

    Parameters
    ----------
    masks : RoiMasks
    weights : numpy.ndarray
        One weight per ROI (e.g. a dictionary atom over the neurons).
    background : float
        Value of pixels that belong to no ROI.

    Returns
    -------
    numpy.ndarray
        float32 (x, y).

    Examples
    --------
    >>> r = masks_from_pixels([np.array([[0, 0, 1.0]]), np.array([[1, 1, 1.0]])])
    >>> paint(r, np.array([0.5, -2.0])).tolist()
    [[0.5, 0.0], [0.0, -2.0]]
    """
    weights = np.asarray(weights, dtype=np.float32)
    if weights.shape != (masks.n_rois,):
        raise ValueError(f"{weights.shape[0] if weights.ndim else 0} weights for {masks.n_rois} ROIs")
    out = np.full(masks.shape, background, dtype=np.float32)
    inside = masks.owner >= 0
    out[inside] = weights[masks.owner[inside]]
    return out


def read_roi_masks(path, table_path: str, rows=None, chunk: int = 64) -> RoiMasks | None:
    """Read the masks of the ROIs ``rows`` of the PlaneSegmentation at ``table_path`` in an NWB file.

    Parameters
    ----------
    path : str or Path
        The NWB file.
    table_path : str
        Path of the PlaneSegmentation inside the file.
    rows : array-like of int, optional
        Rows of the table that are the neurons, in the neuron axis' order (default: all rows).
    chunk : int
        ROIs of a dense ``image_mask`` read at once.

    Returns
    -------
    RoiMasks or None
        None when the table holds no image, pixel or voxel mask.
    """
    import h5py

    with h5py.File(path, "r") as f:
        if table_path not in f:
            return None
        table = f[table_path]
        n_rows = table["id"].shape[0] if "id" in table else None
        rows = np.arange(n_rows) if rows is None else np.asarray(rows, dtype=np.int64)
        if "image_mask" in table:
            data = table["image_mask"]
            out = None
            sorted_rows = np.all(np.diff(rows) > 0) if rows.size > 1 else True
            for start in range(0, rows.size, chunk):
                sel = rows[start:start + chunk]
                block = data[np.sort(sel).tolist()] if sorted_rows else np.stack([data[int(r)] for r in sel])
                out = masks_from_images(block, n_rois=rows.size, first=start, out=out)
            if out is not None:
                out.source = f"{table_path}/image_mask"
            return out
        for name in ("pixel_mask", "voxel_mask"):
            if name in table and f"{name}_index" in table:
                ends = np.asarray(table[f"{name}_index"][()], dtype=np.int64)
                begins = np.concatenate([[0], ends[:-1]])
                flat = table[name][()]
                fields = flat.dtype.names or ()
                columns = [c for c in ("x", "y", "weight") if c in fields]
                if len(columns) != 3:
                    return None
                table_xyw = np.stack([flat[c].astype(np.float64) for c in columns], axis=1)
                pixels = [table_xyw[begins[r]:ends[r]] for r in rows]
                out = masks_from_pixels(pixels)
                out.source = f"{table_path}/{name}"
                return out
    return None
