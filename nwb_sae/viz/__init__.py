"""Matplotlib figures for a sparse autoencoder on neural recordings.

Training history, reconstructions, dictionary atoms, code statistics, the codes of one presentation
and condition tuning. Every function builds a :class:`matplotlib.figure.Figure` directly, never through
``pyplot``, so it works headless, in worker threads and inside GUI applications without touching any
global figure state. Each returns the figure; given ``path`` it also writes a PNG at 120 dpi.

Arrays follow the package conventions: activity dims ``(neurons, time, presentations)``, codes dims
``(latents, time, presentations)`` (any order; they are transposed), ``time`` in seconds relative to the
alignment event, dictionaries shaped ``(latents, neurons)``.

Examples
--------
>>> from nwb_sae.synthetic import make_recording
>>> rec = make_recording(n_neurons=12, n_atoms=16, n_time=10, n_presentations=8)
>>> fig = plot_code_statistics(rec.codes)
>>> len(fig.axes)
4
"""

from nwb_sae.viz._common import DPI, MAX_TICKS, MAX_TUNING_LATENTS, RECOVERY_THRESHOLD
from nwb_sae.viz.codes import plot_code_statistics, plot_codes, plot_tuning
from nwb_sae.viz.dictionary import plot_dictionary
from nwb_sae.viz.report import save_inference_figures, save_training_figures
from nwb_sae.viz.sessions import plot_tracks
from nwb_sae.viz.training import plot_history, plot_reconstructions

__all__ = [
    "DPI",
    "MAX_TICKS",
    "MAX_TUNING_LATENTS",
    "RECOVERY_THRESHOLD",
    "plot_code_statistics",
    "plot_codes",
    "plot_dictionary",
    "plot_history",
    "plot_reconstructions",
    "plot_tracks",
    "plot_tuning",
    "save_inference_figures",
    "save_training_figures",
]
