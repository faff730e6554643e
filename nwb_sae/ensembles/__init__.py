"""What makes a latent trustworthy: model selection, significance, seed stability, stimulus selectivity.

- :func:`find_ensembles`: the default fit: choose the number of latents and the sparsity
  (:mod:`~nwb_sae.ensembles.selection`), fit several seeds together (:mod:`~nwb_sae.ensembles.fleet`),
  test every latent against circular shifts on held-out presentations
  (:mod:`~nwb_sae.ensembles.significance`), score its stability across seeds
  (:mod:`~nwb_sae.ensembles.stability`).
- :func:`selectivity_table`: effect size and permutation p-values of the significant latents against
  categorical presentation columns (:mod:`~nwb_sae.ensembles.selectivity`).
"""

from nwb_sae.ensembles.find import (
    EnsembleResult,
    composite_latents,
    find_ensembles,
    load_weights,
    selectivity_table,
)
from nwb_sae.ensembles.selection import Selection, marchenko_pastur_count, select_model
from nwb_sae.ensembles.selectivity import SelectivityResult, eta_squared, selectivity_test
from nwb_sae.ensembles.significance import (
    SignificanceResult,
    benjamini_hochberg,
    circular_shift,
    coactivation_test,
)
from nwb_sae.ensembles.stability import StabilityResult, same_ensembles, seed_stability

__all__ = [
    "EnsembleResult",
    "Selection",
    "SelectivityResult",
    "SignificanceResult",
    "StabilityResult",
    "benjamini_hochberg",
    "circular_shift",
    "coactivation_test",
    "composite_latents",
    "eta_squared",
    "find_ensembles",
    "load_weights",
    "marchenko_pastur_count",
    "same_ensembles",
    "seed_stability",
    "select_model",
    "selectivity_table",
    "selectivity_test",
]
