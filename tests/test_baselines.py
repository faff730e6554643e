"""PCA/ICA assemblies and NMF: planted assemblies found, none on independent neurons, the SAE's face."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from sklearn.base import clone

from nwb_sae.baselines import (
    ICAAssemblies,
    NMFEnsembles,
    assembly_count,
    make_method,
    marchenko_pastur_bound,
    zscore,
)
from nwb_sae.errors import InputDataError, NwbSaeError
from nwb_sae.metrics import fraction_found, precision
from nwb_sae.samples import population_vectors
from nwb_sae.synthetic import make_assemblies


@pytest.fixture(scope="module")
def planted():
    return make_assemblies(n_neurons=40, n_assemblies=4, members=6, duration=120, n_presentations=20,
                           seed=11)


@pytest.fixture(scope="module")
def independent():
    return make_assemblies(n_neurons=40, n_assemblies=0, duration=120, n_presentations=20, seed=12)


def test_ica_finds_every_planted_assembly(planted):
    ica = ICAAssemblies().fit(planted.data)
    assert ica.n_latents == 4
    assert fraction_found(ica.components_, planted.assemblies) == 1.0
    assert precision(ica.components_, planted.assemblies) > 0.95
    np.testing.assert_allclose(np.linalg.norm(ica.dictionary, axis=1), 1.0)
    # sign convention: the largest-magnitude weight of each pattern is positive
    assert (ica.components_[np.arange(4), np.abs(ica.components_).argmax(1)] > 0).all()
    assert ica.significant_.tolist() == [True] * 4
    assert set(ica.latent_table_.columns) >= {"frequency", "mean_activation", "significant"}


@pytest.mark.parametrize("null", ["mp", "shift"])
def test_no_assembly_on_independent_neurons(independent, null):
    ica = ICAAssemblies(null=null).fit(independent.data)
    assert ica.n_latents == 0 and ica.components_.shape == (0, 40)
    assert ica.encode(independent.data).sizes["latents"] == 0
    assert NMFEnsembles(null=null).fit(independent.data).n_latents == 0


def test_shift_null_counts_the_planted_assemblies(planted):
    z, _, _ = zscore(population_vectors(planted.data))
    n_mp, eig, bound = assembly_count(z, "mp")
    n_shift, _, shift_bound = assembly_count(z, "shift", n_shifts=10)
    assert n_mp == n_shift == 4
    assert bound == pytest.approx(marchenko_pastur_bound(40, z.shape[0]))
    assert shift_bound == pytest.approx(bound, rel=0.1)  # independent surrogates sit at the MP edge
    assert eig[3] > bound > eig[4]


def test_activation_strength_is_the_projector_with_zeroed_diagonal(planted):
    ica = ICAAssemblies().fit(planted.data)
    x = population_vectors(planted.data).astype(np.float64)[:50]
    z = (x - ica.mean_) / ica.scale_
    w = ica.components_[0]
    projector = np.outer(w, w)
    np.fill_diagonal(projector, 0.0)
    expected = np.einsum("ti,ij,tj->t", z, projector, z)
    np.testing.assert_allclose(ica.encode(x)[:, 0], expected, atol=1e-9)


def test_activation_strength_peaks_on_planted_events(planted):
    ica = ICAAssemblies().fit(planted.data)
    codes = ica.encode(planted.data)
    assert codes.dims == ("latents", "time", "presentations")
    assert "stimulus" in codes.coords
    best = np.abs(ica.components_ @ planted.assemblies.T).argmax(axis=0)  # pattern of each planted one
    for planted_index, latent in enumerate(best):
        events = planted.activations.isel(latents=planted_index).values > 0
        r = codes.isel(latents=latent).values
        assert r[events].mean() > 10 * max(r[~events].mean(), 0.1)


def test_nmf_finds_planted_assemblies_and_refuses_negative_data(planted):
    nmf = NMFEnsembles().fit(planted.data)
    assert nmf.n_latents == 4
    assert fraction_found(nmf.components_, planted.assemblies) == 1.0
    assert (nmf.components_ >= 0).all()
    negative = planted.data - 1.0
    with pytest.raises(InputDataError, match="clip_negative"):
        NMFEnsembles().fit(negative)
    assert NMFEnsembles(clip_negative=True, n_components=2).fit(negative).n_latents == 2


def test_two_dimensional_samples_and_errors(planted):
    x = population_vectors(planted.data)
    ica = ICAAssemblies().fit(x)
    assert ica.n_features_in_ == 40
    assert ica.encode(x).shape == (x.shape[0], ica.n_latents)
    with pytest.raises(InputDataError, match="40"):
        ica.encode(x[:, :10])
    with pytest.raises(NwbSaeError, match="not fitted"):
        ICAAssemblies().encode(x)
    with pytest.raises(InputDataError, match="null"):
        ICAAssemblies(null="bootstrap").fit(x)
    assert isinstance(ica.fit_transform(planted.data), xr.DataArray)


def test_scikit_learn_protocol_and_registry():
    ica = ICAAssemblies(null="shift", seed=3)
    copy = clone(ica)
    assert copy.get_params() == ica.get_params() and copy is not ica
    assert clone(NMFEnsembles(n_components=5)).n_components == 5
    assert ica.set_params(n_shifts=5).n_shifts == 5
    with pytest.raises(InputDataError, match="no setting"):
        ica.set_params(k=3)
    assert isinstance(make_method("ica", seed=1), ICAAssemblies)
    assert isinstance(make_method("nmf"), NMFEnsembles)
    from nwb_sae.estimator import SAE

    assert isinstance(make_method("sae", n_latents=8), SAE)
    with pytest.raises(InputDataError, match="sae"):
        make_method("pca")
