"""From prepared samples to a fitted model and its statistics: the fit paths of :meth:`nwb_sae.SAE.fit`.

``SAE.fit`` prepares the data (:func:`nwb_sae.training.streaming.prepare_training`: split by presentation,
normalisation, constant neurons, the subsample of a large recording), runs one path, finishes with
the statistics, and sets its fitted state from the path's :class:`FitOutcome` in one place:

- :func:`fit_ensembles` (:mod:`~nwb_sae.fitting.ensemble`): the default batchtopk fit, with model
  selection, seeds, significance and stability (:func:`nwb_sae.ensembles.find_ensembles`);
- :func:`fit_single_model` (:mod:`~nwb_sae.fitting.single`): one model (topk, relu, streamed, torchrun);
- :func:`vet_latents` and :func:`with_selectivity` (:mod:`~nwb_sae.fitting.finish`): the latent table
  of a single-model fit, and stimulus selectivity for every fit;
- :mod:`~nwb_sae.fitting.state`: the fitted state as checkpoint JSON and back.
"""

from nwb_sae.fitting.ensemble import fit_ensembles
from nwb_sae.fitting.finish import vet_latents, with_selectivity
from nwb_sae.fitting.outcome import FitOutcome
from nwb_sae.fitting.single import fit_single_model

__all__ = ["FitOutcome", "fit_ensembles", "fit_single_model", "vet_latents", "with_selectivity"]
