"""nwb-sae: sparse neuron ensembles in neural recordings.

Read a recording into a labelled ``[neurons, time, presentations]`` array, fit an overcomplete sparse
autoencoder (a dictionary of population patterns), write the codes and dictionary back into NWB,
browse them in napari.

>>> import nwb_sae
>>> rec = nwb_sae.synthetic.make_recording(n_neurons=16, n_atoms=32, n_time=10, n_presentations=40)
>>> sae = nwb_sae.SAE(n_latents=64, k=4, epochs=2).fit(rec.data)   # doctest: +SKIP
>>> codes = sae.encode(rec.data)                                    # doctest: +SKIP

The public names are imported on first use (``lazy_loader``), so reading NWB files never imports
torch, and training never imports pynwb.
"""

from importlib.metadata import PackageNotFoundError, version

import lazy_loader

from nwb_sae.errors import (
    CheckpointError,
    InputDataError,
    NotFittedError,
    NwbSaeError,
    ObjectNotFoundError,
    OutputExistsError,
    UnsupportedFileError,
)

try:
    __version__ = version("nwb-sae")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__getattr__, _, _ = lazy_loader.attach(
    __name__,
    submodules=["baselines", "metrics", "synthetic", "viz"],
    submod_attrs={
        "estimator": ["SAE", "load"],
        "baselines": ["ICAAssemblies", "NMFEnsembles"],
        "io": ["load_data"],
        "io.recording.nwb": ["read_nwb", "open_activity"],
        "io.recording.describe": ["describe_file"],
        "io.recording.arrays": ["read_hdf5"],
        "io.results.write": ["write_nwb"],
        "io.results.read": ["read_results"],
        "io.recording.pynapple": ["from_pynapple", "to_pynapple"],
        "sessions": ["batch", "Registry", "track_ensembles"],
        "sessions.joint": ["MultiSessionSAE"],
    },
)

__all__ = [
    "CheckpointError",
    "ICAAssemblies",
    "InputDataError",
    "MultiSessionSAE",
    "NMFEnsembles",
    "NotFittedError",
    "NwbSaeError",
    "ObjectNotFoundError",
    "OutputExistsError",
    "Registry",
    "SAE",
    "UnsupportedFileError",
    "__version__",
    "baselines",
    "batch",
    "describe_file",
    "from_pynapple",
    "load",
    "load_data",
    "metrics",
    "open_activity",
    "read_hdf5",
    "read_nwb",
    "read_results",
    "synthetic",
    "to_pynapple",
    "track_ensembles",
    "viz",
    "write_nwb",
]


def __dir__() -> list[str]:
    return list(__all__)
