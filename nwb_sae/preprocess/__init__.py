"""Per-neuron front ends applied before the fit, recorded in the provenance: calcium deconvolution.

:func:`preprocess` is the one rule (``auto`` deconvolves fluorescence and dF/F, leaves the rest);
:func:`deconvolve_ar1` is the unpenalised non-negative AR(1) deconvolution it uses, in pure
NumPy/SciPy (OASIS's problem, without its GPL code).
"""

from nwb_sae.preprocess.baseline import BASELINE_WINDOW, maximin_baseline, noise_level
from nwb_sae.preprocess.decay import ar_coefficient, estimate_decay, indicator_decay
from nwb_sae.preprocess.deconvolve import deconvolve_ar1
from nwb_sae.preprocess.frontend import (
    FLUORESCENCE_SIGNALS,
    PREPROCESS_MODES,
    SIGNAL_ATTR,
    Preprocessing,
    apply_preprocessing,
    apply_to_recording,
    frame_rate_of,
    preprocess,
    wants_deconvolution,
)
from nwb_sae.preprocess.traces import deconvolve_runs

__all__ = [
    "BASELINE_WINDOW",
    "FLUORESCENCE_SIGNALS",
    "PREPROCESS_MODES",
    "SIGNAL_ATTR",
    "Preprocessing",
    "apply_preprocessing",
    "apply_to_recording",
    "ar_coefficient",
    "deconvolve_ar1",
    "deconvolve_runs",
    "estimate_decay",
    "frame_rate_of",
    "indicator_decay",
    "maximin_baseline",
    "noise_level",
    "preprocess",
    "wants_deconvolution",
]
