"""What marks the selection on the canvas: the selected latent, its ensemble's members, panel titles.

Each mark is plain layer data (``(data, kwargs, layer_type)``, as in :mod:`~nwb_sae.napari._layers`),
recomputed when the selection changes. Marks that must stay visible at any zoom are napari points,
whose on-screen size is clamped (``canvas_size_limits``) and whose text is drawn in screen pixels:
an arrow left of the selected latent's row, the ids of the members left of their rows. Thin outlines
(shapes) show the same rows when zoomed in. Nothing here imports Qt or napari.
"""

from __future__ import annotations

import numpy as np

from nwb_sae.napari._layers import BROWSER, ROLE, Panel, extent, layout_of

HIGHLIGHT = "#00e5ff"
"""Colour of everything that marks the selection."""
MAX_LABELLED_ROWS = 40
"""Activity rows labelled with their neuron id: all of them up to this many, else the members only."""


def _text(color: str = HIGHLIGHT, size: int = 9, anchor: str = "center", translation=(0, 0)) -> dict:
    return {"string": "{label}", "color": color, "size": size, "anchor": anchor, "translation": list(translation)}


def _points(name: str, browser, role: str, positions, labels, *, symbol: str = "disc", size: float = 0.1,
            limits=(0, 10000), face: str = "transparent", text: dict | None = None) -> tuple:
    positions = np.asarray(positions, dtype=float).reshape(-1, 2)
    return (positions, {
        "name": name, "symbol": symbol, "size": size, "canvas_size_limits": limits, "face_color": face,
        "border_color": face,
        "border_width": 0, "features": {"label": np.asarray(labels, dtype=object).reshape(-1)},
        "text": text or _text(), "metadata": {BROWSER: browser, ROLE: role}}, "points")


def _row_y(panel: Panel, n_rows: int, row) -> np.ndarray:
    sy = panel.height / max(n_rows, 1)
    return panel.top + (np.asarray(row, dtype=float) + 0.5) * sy


def selection_marks(browser, latent: int) -> list[tuple]:
    """The selected latent's row: an outline on the codes (data units, as the codes layer) and an arrow
    with its number left of the row (at least 14 pixels whatever the zoom)."""
    lay = layout_of(browser)
    if lay.codes is None:
        return []
    n_latents, n_time = browser.codes.shape[1:]
    name = browser.path.name
    sy, sx = lay.codes.scale((n_latents, n_time))
    ty, tx = lay.codes.translate((n_latents, n_time))
    outline = np.array([[latent - 0.5, -0.5], [latent + 0.5, n_time - 0.5]])
    marks = [([outline], {
        "shape_type": "rectangle", "edge_color": HIGHLIGHT, "face_color": "transparent", "edge_width": 0.15,
        "scale": (sy, sx), "translate": (ty, tx), "name": f"selected latent ({name})",
        "metadata": {BROWSER: browser, ROLE: "selection"}}, "shapes")]
    y = _row_y(lay.codes, n_latents, latent)
    marks.append(_points(f"selected latent arrow ({name})", browser, "selection_arrow",
                         [[y, lay.codes.left - 1.2]], [str(latent)], symbol="arrow", size=2.0,
                         limits=(14, 40), face=HIGHLIGHT,
                         text=_text(anchor="center", translation=(0, -4.5), size=9)))
    return marks


def member_marks(browser, latent: int | None, members: np.ndarray) -> list[tuple]:
    """The activity rows: ids left of the rows (all rows when few, else the members) and an outline
    around the members, who sit on top when the rows are ordered by the selected ensemble."""
    lay = layout_of(browser)
    if lay.activity is None:
        return []
    n_neurons, n_time = browser.activity.shape[1:]
    name = browser.path.name
    labels = browser.row_labels()
    rows = np.flatnonzero(np.isin(browser.rows if browser.rows is not None else np.arange(n_neurons), members))
    shown = np.arange(n_neurons) if n_neurons <= MAX_LABELLED_ROWS else rows
    y = _row_y(lay.activity, n_neurons, shown)
    x = np.full(shown.size, lay.activity.left - 0.4)
    marks = [_points(f"neuron ids ({name})", browser, "row_labels", np.stack([y, x], axis=1), labels[shown],
                     text=_text(size=7, translation=(0, -3.5)))]
    if rows.size and browser.order_by == "members" and latent is not None:
        sy, sx = lay.activity.scale((n_neurons, n_time))
        ty, tx = lay.activity.translate((n_neurons, n_time))
        outline = np.array([[-0.5, -0.5], [rows.max() + 0.5, n_time - 0.5]])
        marks.append(([outline], {
            "shape_type": "rectangle", "edge_color": HIGHLIGHT, "face_color": "transparent",
            "edge_width": 0.08, "scale": (sy, sx), "translate": (ty, tx),
            "name": f"members of latent {latent} ({name})", "metadata": {BROWSER: browser, ROLE: "members"}},
            "shapes"))
    return marks


def panel_titles(browser, latent: int | None) -> tuple | None:
    """Titles above the panels (what is shown, in which units) and the time at the panels' ends."""
    lay = layout_of(browser)
    spots, labels = [], []
    t = browser.time
    span = (f"{t[0]:.3g} s", f"{t[-1]:.3g} s") if t.size else ("", "")
    order = {"members": f"latent {latent}'s members on top" if latent is not None else "file order",
             "similarity": "similar rows together", "file": "file order"}[browser.order_by]
    if lay.activity is not None:
        a = lay.activity
        spots += [[a.top - 2.0, a.left + 0.5 * a.width], [a.top + a.height + 1.6, a.left + 2.5],
                  [a.top + a.height + 1.6, a.left + a.width - 2.5]]
        labels += [f"activity, {browser.normalisation} · {order}", span[0], span[1]]
    if lay.codes is not None:
        c = lay.codes
        spots.append([c.top + c.height + 2.0, c.left + 0.5 * c.width])
        labels.append(f"SAE codes (a.u.), {browser.codes.shape[1]} latents × time · arrow: selected")
    if lay.fov is not None:
        f = lay.fov
        under = f" on {browser.background.name}" if browser.background is not None else " (ROIs)"
        spots.append([f.top - 2.0, f.left + 0.5 * f.width])
        labels.append(f"latent {latent}'s weights{under}")
    if not spots:
        return None
    top, left, bottom, right = extent(lay)  # two blank marks: the camera fits the label strip and titles too
    spots += [[top, left], [bottom, right]]
    labels += ["", ""]
    widths = [_width_of(lay, spot) for spot in spots]
    data = _points(f"titles ({browser.path.name})", browser, "titles", spots, labels,
                   text=_text(color="#d6d0ce", size=10))
    data[1]["features"]["width"] = np.asarray(widths, dtype=float)
    return data


def _width_of(lay, spot) -> float:
    """The width a title at ``spot`` may take: its panel's (the time labels: a fifth of it)."""
    for panel in (lay.activity, lay.codes, lay.fov):
        if panel is not None and panel.left <= spot[1] <= panel.left + panel.width:
            near_edge = min(spot[1] - panel.left, panel.left + panel.width - spot[1]) < 0.1 * panel.width
            return panel.width * (0.2 if near_edge else 1.0)
    return 0.0


MAX_TEXT, MIN_TEXT = 10.0, 4.0
"""Largest and smallest text size (points) of the marks."""


def text_size(width_px: float, n_chars: int, largest: float = MAX_TEXT) -> float:
    """The text size (points) at which ``n_chars`` characters fit in ``width_px`` screen pixels.

    A character is about 0.6 em wide and a point 4/3 pixels, so a line is ``0.8 * size * n_chars`` pixels.

    Examples
    --------
    >>> text_size(400, 50), text_size(100, 50)
    (10.0, 4.0)
    """
    return float(np.clip(width_px / (0.8 * max(n_chars, 1)), MIN_TEXT, largest))


def text_sizes(browser, latent: int | None, zoom: float) -> dict:
    """Role -> text size of the marks at ``zoom`` (screen pixels per world unit), so that titles stay over
    their panel and ids in the label strip however small the canvas."""
    from nwb_sae.napari._layers import LABELS

    lay = layout_of(browser)
    titles = panel_titles(browser, latent)
    sizes = {}
    if titles is not None:
        features = titles[1]["features"]
        sizes["titles"] = min(text_size(w * zoom, len(t)) for t, w in zip(features["label"], features["width"],
                                                                          strict=True) if t)
    strip = (LABELS - 1.5) * zoom
    if browser.codes is not None:
        sizes["selection_arrow"] = text_size(strip * 0.7, len(str(browser.codes.shape[1] - 1)), 9)
    if browser.activity is not None:
        row_px = (lay.activity.height / max(browser.activity.shape[1], 1)) * zoom
        longest = max((len(s) for s in browser.row_labels()), default=1)
        sizes["row_labels"] = min(text_size(strip * 0.8, longest, 8), max(MIN_TEXT, row_px * 1.1))
    return sizes
