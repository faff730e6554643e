"""Settings of the model and of its training, as dataclasses.

They drive the CLI flags and are saved in every checkpoint's JSON, so a result can always be traced
back to the settings that made it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Literal, get_args

Activation = Literal["topk", "batchtopk", "relu"]
Precision = Literal["fp32", "bf16"]
Normalization = Literal["zscore", "scale", "none"]
Preprocess = Literal["auto", "deconvolve", "none"]
PREPROCESSES = get_args(Preprocess)
ACTIVATIONS = get_args(Activation)
NORMALIZATIONS = get_args(Normalization)
PRECISIONS = get_args(Precision)
LEGACY_N_LATENTS, LEGACY_K = 1024, 6
"""Size and sparsity of topk / relu fits when not given (the earlier defaults; only batchtopk selects)."""


@dataclass
class ModelConfig:
    """Shape and sparsity mechanism of the sparse autoencoder."""

    n_latents: int | None = None
    """Number of dictionary atoms (the original design's ``embedding_dim``); ``None`` selects it from the
    data for batchtopk (:func:`nwb_sae.ensembles.select_model`) and means 1024 for topk and relu."""
    activation: Activation = "batchtopk"
    """``batchtopk`` (k on average over a batch, a learned threshold at inference, so a time bin without
    ensemble codes as zeros; fitted with model selection, significance and seed stability), ``topk``
    (exactly k active per sample) or ``relu`` (ReLU with an L1 penalty, the original design)."""
    k: float | None = None
    """Active latents per sample: on average for batchtopk, where it may be below one (most time bins
    of a spiking recording hold no ensemble at all), exactly ``k`` (an integer) for topk. ``None``
    selects it from the data for batchtopk and means 6 for topk."""
    l1_coefficient: float = 0.05
    """Weight of the L1 penalty for ``relu`` (the original design's ``sparsity_weight``): the loss is the
    mean squared error per element of normalised data plus this times the sum of the codes."""
    normalize: Normalization = "zscore"
    """``zscore`` (per neuron mean and std of the training split), ``scale`` (one global factor so the
    mean squared norm of a sample is the number of neurons) or ``none``."""
    preprocess: Preprocess = "auto"
    """Front end before the fit, applied again by ``encode``: ``auto`` deconvolves calcium fluorescence
    and dF/F (as marked by the readers in ``attrs["signal"]``) and leaves spikes, LFP and deconvolved
    series alone; ``deconvolve`` always deconvolves (unpenalised non-negative AR(1)); ``none`` never does."""
    decay_time: float | None = None
    """Decay time (s) of the calcium indicator for the deconvolution; ``None`` takes the file's indicator
    (GCaMP6f/m/s) or estimates each neuron's from its trace."""

    def resolved(self) -> ModelConfig:
        """A copy with ``n_latents`` and ``k`` filled in: the fixed defaults of topk and relu (1024, 6).

        BatchTopK settings left at ``None`` are chosen from the data by ``SAE.fit`` instead.
        """
        return replace(self, n_latents=self.n_latents if self.n_latents is not None else LEGACY_N_LATENTS,
                       k=self.k if self.k is not None else LEGACY_K)

    def validate(self) -> None:
        """Raise ValueError for impossible settings (``None`` size or sparsity is always possible)."""
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {self.activation!r}")
        if self.normalize not in NORMALIZATIONS:
            raise ValueError(f"normalize must be one of {NORMALIZATIONS}, got {self.normalize!r}")
        if self.preprocess not in PREPROCESSES:
            raise ValueError(f"preprocess must be one of {PREPROCESSES}, got {self.preprocess!r}")
        if self.decay_time is not None and not self.decay_time > 0:
            raise ValueError(f"decay_time must be a positive number of seconds or None, got {self.decay_time}")
        if self.n_latents is None or self.k is None:
            n = self.n_latents if self.n_latents is not None else max(LEGACY_N_LATENTS, math.ceil(self.k or 1))
            return replace(self, n_latents=n, k=self.k if self.k is not None else min(LEGACY_K, n)).validate()
        if self.n_latents < 1:
            raise ValueError(f"n_latents must be positive, got {self.n_latents}")
        if self.activation == "topk" and (self.k != int(self.k) or not 1 <= self.k <= self.n_latents):
            raise ValueError(f"k must be an integer between 1 and n_latents={self.n_latents}, got {self.k}")
        if self.activation == "batchtopk" and not 0 < self.k <= self.n_latents:
            raise ValueError(f"k must be above 0 and at most n_latents={self.n_latents}, got {self.k}")
        if self.l1_coefficient < 0:
            raise ValueError(f"l1_coefficient must be >= 0, got {self.l1_coefficient}")


@dataclass
class TrainConfig:
    """How the model is fitted."""

    epochs: int = 100
    """Maximum passes over the training split (early stopping usually ends sooner)."""
    batch_size: int | None = None
    """Samples (population vectors) per optimisation step; ``None`` picks the largest power of two up to
    4096 (65536 on a GPU) that still gives at least 32 steps per epoch (small recordings need many small
    steps)."""
    lr: float | None = None
    """Adam learning rate; ``None`` means 4e-3 (see ``resolved_lr``)."""
    warmup_steps: int = 50
    """Steps of linear learning-rate warm-up."""
    val_fraction: float = 0.2
    """Fraction of presentations held out for validation (split by presentation, never by time bin)."""
    patience: int = 5
    """Epochs without a relative improvement of ``min_delta`` in validation loss before stopping."""
    min_delta: float = 1e-3
    """Relative improvement of validation loss that resets the patience counter."""
    seed: int = 0
    """Seed of the split, the initialisation and the batch order."""
    device: str = "auto"
    """``auto`` (CUDA when available), ``cpu``, ``cuda``, ``cuda:1``, ..."""
    aux_coefficient: float = 1 / 32
    """Weight of the auxiliary loss that revives dead topk/batchtopk latents."""
    dead_after: int = 100_000
    """A latent that has not fired for this many training samples counts as dead."""
    resample_every: int = 2000
    """For ``relu``: steps between resampling of dead latents (0 disables)."""
    threads: int | None = None
    """CPU threads for torch (``None``: torch's default)."""
    progress: bool = True
    """Show a tqdm progress bar."""
    n_seeds: int = 3
    """Final fits with different seeds, trained together: the one with the lowest held-out error is the
    reference, and a latent must be found again by at least half of the others (with 3, one other seed
    stuck in an optimum that merges two ensembles no longer hides a real one; 1 disables the check)."""
    alpha: float = 0.05
    """False discovery rate at which latents are reported as significant ensembles."""
    n_shifts: int = 0
    """Circular shifts behind the significance null (each neuron shifted on its own): 0 uses the exact
    mean and variance over all shifts (:class:`nwb_sae.ensembles.ShiftNull`); N > 0 estimates them from N
    random shifted copies."""
    n_permutations: int = 1000
    """Label permutations of the stimulus-selectivity test."""
    precision: Precision = "fp32"
    """``fp32``, or ``bf16``: the encoder's dense matrix product runs in bfloat16 autocast (a GPU's tensor
    cores; weights, optimiser and loss stay float32)."""

    def resolve_batch_size(self, n_train: int, device_type: str = "cpu") -> int:
        """The batch size used for ``n_train`` training samples on a ``device_type`` device."""
        if self.batch_size is not None:
            return max(1, min(self.batch_size, n_train))
        size = 2 ** int(math.floor(math.log2(max(n_train // 32, 1))))
        largest = 4096 if device_type == "cpu" else 65536  # a GPU step costs little more for more rows
        return max(1, min(largest, max(64, size), n_train))

    def resolved_lr(self) -> float:
        """The learning rate: ``lr``, or 4e-3 (measured on the recovery benchmark, all activations)."""
        return self.lr if self.lr is not None else 4e-3


@dataclass
class Settings:
    """Model and training settings together (what ``SAE(**settings)`` accepts, flattened)."""

    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    @classmethod
    def from_flat(cls, **kwargs) -> Settings:
        """Build from flat keyword arguments such as ``n_latents=512, epochs=20``."""
        model_keys = {f.name for f in fields(ModelConfig)}
        train_keys = {f.name for f in fields(TrainConfig)}
        unknown = set(kwargs) - model_keys - train_keys
        if unknown:
            raise TypeError(
                f"unknown setting(s) {sorted(unknown)}; known: {sorted(model_keys | train_keys)}"
            )
        model = ModelConfig(**{k: v for k, v in kwargs.items() if k in model_keys})
        train = TrainConfig(**{k: v for k, v in kwargs.items() if k in train_keys})
        model.validate()
        if train.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {train.precision!r}")
        return cls(model, train)

    def to_flat(self) -> dict:
        """All settings as one flat dict (JSON-able)."""
        return {**asdict(self.model), **asdict(self.train)}


@dataclass
class TrackConfig:
    """How ensembles are tracked across sessions (:func:`nwb_sae.track_ensembles`)."""

    alpha: float = 0.05
    """False discovery rate of the links between sessions (Benjamini-Hochberg over all matches of all pairs)."""
    min_shared: int = 10
    """Fewest registered neurons two sessions must share to be compared."""
    min_cosine: float = 0.3
    """Smallest cosine (on shared neurons) of a link, beside its q-value."""
    n_permutations: int = 199
    """Permutations of global ids per session pair (the smallest p-value is 1 / (n + 1))."""
    drift_ratio: float = 0.8
    """A track present in every session drifts when its first-to-last cosine is below drift_ratio x ceiling."""
    member_fraction: float = 0.5
    """A neuron is a member of an atom when its weight is at least this fraction of the largest."""
    seed: int = 0
    """Seed of the permutations."""
