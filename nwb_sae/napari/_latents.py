"""The list of latents in the dock: ensembles first, each with its evidence, every other latent with its reason.

The verdict and its reason come from the fit (the ``significant`` and ``reason`` columns the writer
stores, :func:`nwb_sae.stats.significance.verdict_reasons`); nothing here re-derives them. What is
added is for reading: the size of each ensemble (members above half the atom's top weight), the
activation rate as a percentage, q-values printed as a person reads them ("<1e-10"), and a header
("N ensembles of M latents"). Nothing here imports Qt or napari.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nwb_sae.metrics import MEMBER_FRACTION, ensemble_sizes

ENSEMBLE = "ensemble"
"""The verdict shown for a reported ensemble."""
NOT_RECORDED = "reason not recorded"
"""The verdict shown for a latent not reported by a file written before the fit recorded reasons."""
LEADING_COLUMNS = ("verdict", "neurons", "activation_frequency", "q_value", "stability", "selectivity",
                   "selectivity_q", "preferred", "significant", "mean_activation")
"""Columns listed first: is it an ensemble (and why not), how big, how often, how sure, what it codes."""
Q_FLOOR = 1e-10
"""q-values below this are shown as "<1e-10" (the Gaussian tail is not meaningful further out)."""

HEADINGS = {"activation_frequency": "active", "q_value": "q", "mean_activation": "mean act.",
            "selectivity_q": "selectivity q", "neurons": "neurons"}
"""Short column headings of the dock's table."""


def verdicts(latent_stats, n_latents: int) -> np.ndarray:
    """The fit's verdict per latent: 'ensemble' or the reason it is not one (as written with the results).

    Examples
    --------
    >>> verdicts(pd.DataFrame({"significant": [True, False], "reason": ["", "one neuron"]}), 2).tolist()
    ['ensemble', 'one neuron']
    """
    if latent_stats is None or not _has(latent_stats, "significant"):
        return np.full(n_latents, "", dtype=object)
    significant = np.asarray(latent_stats["significant"], dtype=bool)
    if _has(latent_stats, "reason"):
        reason = np.asarray(latent_stats["reason"], dtype=object)
    else:
        reason = np.full(significant.size, NOT_RECORDED, dtype=object)
    return np.where(significant, ENSEMBLE, reason).astype(object)


def _has(stats, name: str) -> bool:
    have = stats.columns if isinstance(stats, pd.DataFrame) else stats.data_vars
    return name in have


def latent_table(latent_stats=None, n_latents: int | None = None, eta2: np.ndarray | None = None,
                 preferred: np.ndarray | None = None, levels: np.ndarray | None = None,
                 eta2_q: np.ndarray | None = None, dictionary: np.ndarray | None = None) -> pd.DataFrame:
    """The table listed in the widget: one row per latent with its verdict and statistics.

    Parameters
    ----------
    latent_stats : xarray.Dataset or pandas.DataFrame, optional
        Per-latent statistics written with the results (``significant``, ``reason``, ``q_value``, ...).
    n_latents : int, optional
        Number of latents, when ``latent_stats`` is missing.
    eta2, preferred, levels : numpy.ndarray, optional
        Selectivity to a presentation column and the column's levels.
    eta2_q : numpy.ndarray, optional
        q-values of ``eta2`` when it is the stored, tested selectivity (:func:`stored_selectivity`).
    dictionary : numpy.ndarray, optional
        (latents, neurons): gives the ``neurons`` column (members above half the top weight).

    Returns
    -------
    pandas.DataFrame
        Index ``latent``; the :data:`LEADING_COLUMNS` it has first, then the other 1-D numeric
        statistics. ``stability`` is left out when the fit did not measure it (all NaN).
    """
    if latent_stats is None:
        table = pd.DataFrame(index=pd.RangeIndex(int(n_latents or 0), name="latent"))
    elif isinstance(latent_stats, pd.DataFrame):
        table = latent_stats.copy()
    else:
        one_d = [name for name, var in latent_stats.data_vars.items() if var.ndim == 1]
        table = latent_stats[one_d].to_dataframe() if one_d else pd.DataFrame(
            index=pd.RangeIndex(latent_stats.sizes.get("latents", n_latents or 0)))
    table = table[[c for c in table.columns if pd.api.types.is_numeric_dtype(table[c])]]
    table = table.reset_index(drop=True)
    table.index.name = "latent"
    if latent_stats is not None and _has(latent_stats, "significant"):
        table["verdict"] = verdicts(latent_stats, len(table))
    if dictionary is not None:
        table["neurons"] = ensemble_sizes(dictionary)
    if "stability" in table and not np.isfinite(table["stability"].to_numpy(dtype=float)).any():
        table = table.drop(columns="stability")
    if eta2 is not None:
        table["selectivity"] = np.asarray(eta2, dtype=float)
    if eta2_q is not None:
        table["selectivity_q"] = np.asarray(eta2_q, dtype=float)
    if preferred is not None:
        lv = np.asarray(levels if levels is not None else [], dtype=object)
        table["preferred"] = [lv[p] if 0 <= p < lv.size else None for p in np.asarray(preferred)]
    first = [c for c in LEADING_COLUMNS if c in table]
    return table[first + [c for c in table.columns if c not in first]]


def header(latent_stats, n_latents: int) -> str:
    """One line over the list: how many ensembles, why the others are not, whether stability was measured.

    Examples
    --------
    >>> stats = pd.DataFrame({"significant": [True, False, False], "reason": ["", "one neuron", "one neuron"],
    ...                       "stability": [np.nan] * 3})
    >>> print(header(stats, 3))
    1 ensemble of 3 latents · not reported: 2 one neuron · stability not measured (a single-seed fit)
    """
    if latent_stats is None or not _has(latent_stats, "significant"):
        return f"{n_latents} latents (the file does not say which are ensembles)"
    v = pd.Series(verdicts(latent_stats, n_latents))
    n = int((v == ENSEMBLE).sum())
    text = f"{n} ensemble{'s' if n != 1 else ''} of {n_latents} latents"
    others = v[v != ENSEMBLE].value_counts()
    if len(others):
        text += " · not reported: " + ", ".join(f"{count} {why}" for why, count in others.items())
    if _has(latent_stats, "stability") and not np.isfinite(np.asarray(latent_stats["stability"], float)).any():
        text += " · stability not measured (a single-seed fit)"
    return text


def cell_text(column: str, value) -> str:
    """How a value of ``column`` is printed in the dock's table.

    Examples
    --------
    >>> cell_text("q_value", 3e-206), cell_text("q_value", 0.0123), cell_text("activation_frequency", 0.0412)
    ('<1e-10', '0.012', '4.1%')
    >>> cell_text("stability", float("nan"))
    '–'
    """
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            return "–"
        if column.endswith("q_value") or column in ("selectivity_q", "p_value"):
            return f"<{Q_FLOOR:.0e}" if value < Q_FLOOR else f"{value:.2g}"
        if column == "activation_frequency":
            return f"{100 * value:.1f}%"
        return f"{value:.3g}"
    return str(value)


def heading(column: str) -> str:
    """The dock's heading of ``column``."""
    return HEADINGS.get(column, column)


def heading_tip(column: str) -> str:
    """Tool tip of a heading: what the column means."""
    tips = {"verdict": "the fit's verdict: 'ensemble', or why the latent is not reported",
            "neurons": f"members: neurons with a weight of at least {MEMBER_FRACTION:.0%} of the atom's largest, "
                       "each neuron in its own standard deviations",
            "activation_frequency": "share of the recording's samples in which the latent is active",
            "q_value": "Benjamini-Hochberg q-value of the co-activation test against circular shifts",
            "stability": "cosine of the atom with its match in fits with other seeds"}
    return tips.get(column, "")



def stored_selectivity(latent_stats, column: str | None) -> tuple[np.ndarray, np.ndarray] | None:
    """The selectivity to ``column`` written with the results (effect size and q-value), or None.

    The writer stores, for each categorical presentation column ``c`` the model was trained with,
    ``c_eta_squared`` (permutation-tested effect size) and ``c_q_value`` (Benjamini-Hochberg across the
    significant latents); they replace the widget's own, untested selectivity when present.
    """
    if latent_stats is None or not column:
        return None
    names = (f"{column}_eta_squared", f"{column}_q_value")
    have = latent_stats.columns if isinstance(latent_stats, pd.DataFrame) else latent_stats.data_vars
    if not all(name in have for name in names):
        return None
    return tuple(np.asarray(latent_stats[name], dtype=float) for name in names)


def shown_latents(table: pd.DataFrame, show_all: bool) -> np.ndarray:
    """Latents to list, in order: significant ensembles first, each group by activation frequency.

    Without ``show_all`` and when the table has a ``significant`` column, only the significant ones.

    Examples
    --------
    >>> t = pd.DataFrame({"significant": [False, True, True], "activation_frequency": [0.9, 0.1, 0.2]})
    >>> shown_latents(t, show_all=True).tolist(), shown_latents(t, show_all=False).tolist()
    ([2, 1, 0], [2, 1])
    """
    order = (sort_latents(table, "activation_frequency") if "activation_frequency" in table
             else table.index.to_numpy())
    if "significant" not in table:
        return np.asarray(order, dtype=np.int64)
    significant = table["significant"].fillna(False).astype(bool)
    first = [i for i in order if significant[i]]
    rest = [i for i in order if not significant[i]] if show_all else []
    return np.asarray(first + rest, dtype=np.int64)


def sort_latents(table: pd.DataFrame, by: str, descending: bool = True) -> np.ndarray:
    """Latent indices ordered by a column of :func:`latent_table` (missing values last).

    Examples
    --------
    >>> t = pd.DataFrame({"f": [0.1, np.nan, 0.5]})
    >>> sort_latents(t, "f").tolist(), sort_latents(t, "f", descending=False).tolist()
    ([2, 0, 1], [0, 2, 1])
    """
    order = table[by].sort_values(ascending=not descending, na_position="last", kind="stable")
    return np.asarray(order.index, dtype=np.int64)


