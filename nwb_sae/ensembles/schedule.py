"""How long each fit of the ensemble path trains: one schedule for the threshold and the dense path.

Candidates of a selection sweep train :data:`SELECTION_STEPS` steps (enough to rank them). A final
fit trains as many steps, then at least :data:`REFINE_STEPS` more from a fresh optimiser state: the
restart leaves optima that one longer fit keeps (overlapping assemblies, seed 8: 14-16 of 16 per
seed after 2,000 steps in one fit, 16 of 16 in each after the two). A user's ``epochs`` are the
whole budget: one fit, no step floor.
"""

from __future__ import annotations

import torch

from nwb_sae.ensembles.fleet import Fleet, InstanceSpec, fit_fleet

SELECTION_STEPS = 500
"""Optimisation steps of every selection candidate (whole epochs)."""
REFINE_STEPS = 2000
"""Least optimisation steps of the final fits (rare ensembles need many)."""


def fit_candidates(x_train: torch.Tensor, x_val: torch.Tensor, specs: list[InstanceSpec], fit_kwargs: dict,
                   label: str | None = None) -> Fleet:
    """Selection candidates: every spec fitted for at most :data:`SELECTION_STEPS` steps, as one fleet."""
    return fit_fleet(x_train, x_val, specs, **{"max_steps": SELECTION_STEPS, **fit_kwargs}, label=label)


def fit_final(x_train: torch.Tensor, x_val: torch.Tensor, specs: list[InstanceSpec], fit_kwargs: dict,
              label: str | None = None) -> Fleet:
    """Final fits of the chosen size and sparsity (one per seed), by the schedule of this module."""
    if not fit_kwargs.get("raise_epochs", True):  # the user's epochs
        return fit_fleet(x_train, x_val, specs, **fit_kwargs, label=label)
    fits = fit_candidates(x_train, x_val, specs, fit_kwargs, label)
    return fit_fleet(x_train, x_val, specs, init=fits, **{"min_steps": REFINE_STEPS, **fit_kwargs},
                     label=label and f"{label}, trained on")
