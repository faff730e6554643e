"""The selection-curve figure draws on given Axes and rejects a table that is not a selection curve."""

from __future__ import annotations

import pandas as pd
import pytest
from matplotlib.figure import Figure

from nwb_sae.errors import InputDataError
from nwb_sae.viz.selection import plot_selection

CURVE = pd.DataFrame(dict(sweep=["k"] * 3 + ["n_latents"] * 3, n_latents=[16, 16, 16, 8, 16, 32],
                          k=[0.125, 0.25, 0.5, 0.25, 0.25, 0.25], trustworthy=[6, 8, 7, 6, 8, 8],
                          masked_error=[0.95, 0.93, 0.72, 0.91, 0.93, 0.92],
                          chosen=[False, True, False, False, True, False]))


def test_selection_curve_on_given_axes(tmp_path):
    fig = Figure()
    axes = fig.subplots(1, 2)
    assert plot_selection(CURVE, ax=axes, path=tmp_path / "selection.png") is fig
    assert (tmp_path / "selection.png").stat().st_size > 0
    assert list(axes[0].lines[0].get_ydata()) == [6, 8, 7]
    assert list(axes[1].lines[1].get_xdata()) == [16]  # the chosen size is circled


def test_a_table_without_the_curve_columns_is_refused():
    with pytest.raises(InputDataError, match="selection_curve"):
        plot_selection(CURVE.drop(columns="trustworthy"))
