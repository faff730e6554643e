"""Ground truth: recordings whose ensembles are known, to score a fit against.

- :mod:`~nwb_sae.synthetic.continuous`: sparse non-negative activations of planted atoms in
  trial-structured activity (``make_recording``), written as NWB ophys or units (``write_nwb_recording``).
- :mod:`~nwb_sae.synthetic.assemblies`: binned spike trains with planted cell assemblies (``make_assemblies``).
- :mod:`~nwb_sae.synthetic.imaging`: those assemblies seen through a calcium indicator (``make_imaging``).
- :mod:`~nwb_sae.synthetic.sessions`: several sessions of one neuron pool with tracked assemblies.
"""

from nwb_sae.synthetic.assemblies import AssemblyRecording, lopes_dos_santos_toy, make_assemblies
from nwb_sae.synthetic.continuous import (
    SyntheticRecording,
    make_ensembles,
    make_recording,
    write_nwb_recording,
)
from nwb_sae.synthetic.imaging import ImagingRecording, make_imaging
from nwb_sae.synthetic.sessions import (
    SessionsTruth,
    make_sessions,
    shuffled_registry,
    split_halves,
    with_registration_error,
    write_sessions_nwb,
)

__all__ = ["AssemblyRecording", "ImagingRecording", "SessionsTruth", "SyntheticRecording", "lopes_dos_santos_toy",
           "make_assemblies", "make_ensembles", "make_imaging", "make_recording", "make_sessions",
           "shuffled_registry", "split_halves", "with_registration_error", "write_nwb_recording",
           "write_sessions_nwb"]
