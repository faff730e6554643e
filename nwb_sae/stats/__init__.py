"""Statistics of a fitted dictionary: arrays in, tables out, no torch.

- :mod:`~nwb_sae.stats.significance`: co-activation against circular shifts, Benjamini-Hochberg, the
  per-latent rule :func:`~nwb_sae.stats.significance.is_ensemble`.
- :mod:`~nwb_sae.stats.stability`: the same ensembles found again by other seeds.
- :mod:`~nwb_sae.stats.verdict`: the one verdict "this latent is an ensemble" (significant, replicated,
  more than one neuron, not composite), used by every fit path.
- :mod:`~nwb_sae.stats.selectivity`: stimulus selectivity of the ensembles.
- :mod:`~nwb_sae.stats.marchenko_pastur`: how many co-activation patterns stand above noise.
"""
