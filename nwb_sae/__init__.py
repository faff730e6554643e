"""nwb-sae: sparse neuron ensembles in neural recordings.

Read a recording into a labelled ``[neurons, time, presentations]`` array, fit an overcomplete sparse
autoencoder (a dictionary of population patterns), write the codes and dictionary back into NWB,
browse them in napari.

>>> import nwb_sae
>>> rec = nwb_sae.synthetic.make_recording(n_neurons=16, n_atoms=32, n_time=10, n_presentations=40)
>>> sae = nwb_sae.SAE(n_latents=64, k=4, epochs=2).fit(rec.data)   # doctest: +SKIP
>>> codes = sae.encode(rec.data)                                    # doctest: +SKIP
"""

from __future__ import annotations

import importlib

from nwb_sae.errors import (
    CheckpointError,
    InputDataError,
    NwbSaeError,
    ObjectNotFoundError,
    OutputExistsError,
    UnsupportedFileError,
)

__version__ = "0.1.0"

# Public names imported on first use, so that reading NWB files never imports torch and vice versa.
_LAZY = {
    "SAE": "nwb_sae.estimator",
    "load": "nwb_sae.estimator",
    "load_data": "nwb_sae.io",
    "read_nwb": "nwb_sae.io.nwb",
    "open_activity": "nwb_sae.io.nwb",
    "describe_file": "nwb_sae.io.describe",
    "read_hdf5": "nwb_sae.io.arrays",
    "write_nwb": "nwb_sae.io.write",
    "read_results": "nwb_sae.io.write",
    "metrics": "nwb_sae.metrics",
    "synthetic": "nwb_sae.synthetic",
    "baselines": "nwb_sae.baselines",
    "ICAAssemblies": "nwb_sae.baselines",
    "NMFEnsembles": "nwb_sae.baselines",
}

__all__ = [
    "CheckpointError",
    "InputDataError",
    "NwbSaeError",
    "ObjectNotFoundError",
    "OutputExistsError",
    "UnsupportedFileError",
    "__version__",
    *_LAZY,
]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'nwb_sae' has no attribute {name!r}")
    module = importlib.import_module(_LAZY[name])
    return module if module.__name__.endswith(name) else getattr(module, name)
