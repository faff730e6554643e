"""How many co-activation patterns stand above independent noise (Lopes-dos-Santos et al. 2013).

The floor of the model selection (:mod:`nwb_sae.ensembles.selection`) and the count PCA/ICA keeps
(:mod:`nwb_sae.baselines`): eigenvalues of the neurons' correlation matrix above the Marchenko-Pastur
edge ``(1 + sqrt(neurons / samples))**2``, the largest eigenvalue independent neurons would give.
"""

from __future__ import annotations

import numpy as np


def marchenko_pastur_bound(n_neurons: int, n_samples: int) -> float:
    """Largest eigenvalue of the correlation matrix of independent neurons: ``(1 + sqrt(N / T))**2``.

    Examples
    --------
    >>> round(marchenko_pastur_bound(100, 10_000), 4)
    1.21
    """
    return float((1.0 + np.sqrt(n_neurons / n_samples)) ** 2)


def marchenko_pastur_count(x: np.ndarray) -> int:
    """Eigenvalues of the correlation matrix of ``x`` (samples, neurons) above the Marchenko-Pastur edge."""
    x = np.asarray(x, dtype=np.float64)
    sd = x.std(axis=0)
    z = (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    eig = np.linalg.eigvalsh(z.T @ z / z.shape[0])
    return int((eig > marchenko_pastur_bound(x.shape[1], x.shape[0])).sum())
