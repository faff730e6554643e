"""Training: the loops, their steps, where the samples come from, checkpoints and torchrun.

- :mod:`~nwb_sae.training.fleet`: many autoencoders (threshold or TopK) in one loop, with their
  schedule (warm-up, early stopping, dead-latent revival, progress); the ensemble fit's only loop.
- :mod:`~nwb_sae.training.step`: the fleet's step written out (pre-activations, active latents, gradients).
- :mod:`~nwb_sae.training.loop`: one model (topk / relu) trained with autograd, in memory or streamed.
- :mod:`~nwb_sae.training.sources` and :mod:`~nwb_sae.training.streaming`: samples in memory or block
  by block, and which of the two a recording takes.
- :mod:`~nwb_sae.training.checkpoint`: safetensors weights and their JSON.
- :mod:`~nwb_sae.training.distributed`: data-parallel training under torchrun.
"""
