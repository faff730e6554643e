"""Statistics stay honest on imaging data: independent neurons through the calcium kernel and the front end.

Deconvolved traces are still autocorrelated and event-like; the circular-shift null
(:class:`nwb_sae.ensembles.ShiftNull`) must keep its false-positive rate on them. Many null recordings
are cheap when the significance functions are called directly on held-out samples (the fit tests fixed
atoms on presentations it did not see, so fixed random atoms are the same test); one full default fit
checks that nothing is reported end to end.
"""

import numpy as np
import pytest

import nwb_sae
from nwb_sae.ensembles import coactivation_test, is_ensemble
from nwb_sae.preprocess import preprocess
from nwb_sae.samples import population_vectors
from nwb_sae.stats.significance import effective_neurons
from nwb_sae.synthetic import make_imaging

N_DRAWS, N_NEURONS, N_ATOMS = 30, 40, 20


def null_draw(seed: int, duration: float = 900.0):
    """p- and q-values of random 5-neuron atoms on the held-out fifth of one null imaging recording."""
    rec = make_imaging(n_neurons=N_NEURONS, n_assemblies=0, frame_rate=10.0, duration=duration, noise=0.3,
                       seed=seed)
    data, record = preprocess(rec.data)
    assert record.method == "deconvolve"
    held_out = population_vectors(data.isel(presentations=slice(80, 100))).astype(np.float64)
    rng = np.random.default_rng(1000 + seed)
    atoms = np.zeros((N_ATOMS, N_NEURONS))
    for atom in atoms:
        atom[rng.choice(N_NEURONS, 5, replace=False)] = rng.uniform(0.5, 1.0, 5)
    result = coactivation_test(atoms, held_out)
    verdict = is_ensemble(result.q_value, np.ones(N_ATOMS), effective_neurons(atoms))
    return result.p_value, verdict


def test_false_positive_rate_is_nominal_on_deconvolved_null_imaging():
    draws = [null_draw(seed) for seed in range(N_DRAWS)]
    p = np.concatenate([d[0] for d in draws])
    assert 0.02 <= np.mean(p < 0.05) <= 0.08
    assert np.mean(p < 0.01) <= 0.02
    # under the complete null, the false discovery rate is the chance that a recording reports anything:
    # at most 4 of 30 (5 or more has probability 0.016 at the nominal 0.05)
    assert sum(bool(d[1].any()) for d in draws) <= 4


@pytest.mark.slow
def test_default_fit_reports_no_ensemble_on_independent_imaged_neurons():
    rec = make_imaging(n_neurons=50, n_assemblies=0, frame_rate=10.0, duration=900.0, noise=0.3, seed=5)
    sae = nwb_sae.SAE(progress=False, device="cpu", threads=1).fit(rec.data)
    assert sae.preprocessing_.method == "deconvolve"
    assert int(sae.significant_.sum()) == 0
