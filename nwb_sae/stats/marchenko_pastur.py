"""How many co-activation patterns stand above independent noise (Lopes-dos-Santos et al. 2013).

The floor of the model selection (:mod:`nwb_sae.ensembles.selection`) and the count PCA/ICA keeps
(:mod:`nwb_sae.baselines`): eigenvalues of the neurons' correlation matrix above the Marchenko-Pastur
edge ``(1 + sqrt(neurons / samples))**2``, the largest eigenvalue independent neurons would give.
"""

from __future__ import annotations

import numpy as np


def marchenko_pastur_count(x: np.ndarray) -> int:
    """Eigenvalues of the correlation matrix of ``x`` (samples, neurons) above the Marchenko-Pastur edge."""
    x = np.asarray(x, dtype=np.float64)
    sd = x.std(axis=0)
    z = (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    eig = np.linalg.eigvalsh(z.T @ z / z.shape[0])
    edge = (1 + np.sqrt(x.shape[1] / x.shape[0])) ** 2
    return int((eig > edge).sum())
