"""What makes a latent trustworthy: model selection, significance, seed stability, stimulus selectivity.

- :func:`find_ensembles`: the default fit: choose the number of latents and the sparsity
  (:mod:`~nwb_sae.ensembles.selection`), fit several seeds together (:mod:`~nwb_sae.training.fleet`),
  test every latent against circular shifts on held-out presentations
  (:mod:`~nwb_sae.stats.significance`), score its stability across seeds
  (:mod:`~nwb_sae.stats.stability`), keep latents of more than one neuron
  (:func:`effective_neurons`) that copy no other; when every time bin mixes several ensembles, a wide
  per-sample TopK dictionary (:mod:`~nwb_sae.ensembles.dense`) is vetted the same way.
- :func:`selectivity_table`: effect size and permutation p-values of the significant latents against
  categorical presentation columns (:mod:`~nwb_sae.stats.selectivity`).
"""

from nwb_sae.ensembles.find import EnsembleResult, find_ensembles, load_weights, selectivity_table
from nwb_sae.ensembles.selection import Selection, select_model
from nwb_sae.stats.marchenko_pastur import marchenko_pastur_count
from nwb_sae.stats.selectivity import SelectivityResult, eta_squared, selectivity_test
from nwb_sae.stats.significance import (
    ShiftNull,
    SignificanceResult,
    benjamini_hochberg,
    circular_shift,
    coactivation_test,
    effective_neurons,
    is_ensemble,
)
from nwb_sae.stats.stability import StabilityResult, same_ensembles, seed_stability
from nwb_sae.stats.verdict import composite_latents, vet_dictionary

__all__ = [
    "EnsembleResult",
    "Selection",
    "SelectivityResult",
    "ShiftNull",
    "SignificanceResult",
    "StabilityResult",
    "benjamini_hochberg",
    "circular_shift",
    "coactivation_test",
    "composite_latents",
    "effective_neurons",
    "eta_squared",
    "find_ensembles",
    "is_ensemble",
    "load_weights",
    "marchenko_pastur_count",
    "same_ensembles",
    "seed_stability",
    "select_model",
    "selectivity_table",
    "selectivity_test",
    "vet_dictionary",
]
