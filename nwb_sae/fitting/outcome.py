"""The one result type of every fit path: :meth:`nwb_sae.SAE.fit` sets the fitted state from it."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from nwb_sae.model import SparseAutoencoder


class FitOutcome(NamedTuple):
    """What a fit path hands back to :meth:`nwb_sae.SAE.fit`, which sets its fitted attributes from it."""

    model: SparseAutoencoder
    """The fitted model, normalisation included."""
    history: dict
    """Per-epoch history (``history_``)."""
    best_epoch: int
    """Epoch whose weights were kept (``best_epoch_``)."""
    samples_per_second: float | None = None
    """Training throughput (single-model fits)."""
    world_size: int = 1
    """Processes that trained the model (torchrun)."""
    rank: int = 0
    """This process's rank."""
    latent_table: pd.DataFrame | None = None
    """The ensemble fit's latent table; None when the statistics are still to be computed."""
    selection_curve: pd.DataFrame | None = None
    """Candidates of the model selection."""
    mp_count: int | None = None
    """Marchenko-Pastur count of the training data."""
    consensus: np.ndarray | None = None
    """Consensus dictionary over seeds."""
