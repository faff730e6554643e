"""The sparse autoencoder: linear encoder, sparse activation, unit-norm linear decoder.

``x_hat = b_dec + sum_i a_i * W_dec[i]`` with ``a = act(W_enc (x - b_dec) + b_enc)``. The decoder rows
(the dictionary atoms) are kept at unit norm, so the size of a code is the size of its atom's
contribution and an L1 penalty cannot be dodged by shrinking codes and growing atoms.

For ``topk`` and ``batchtopk`` only the selected (sample, latent) pairs take part in the backward pass:
the dense pre-activations are computed without gradient, and the few selected ones are recomputed with
it. This keeps a training step close to the cost of one dense matrix product.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from nwb_sae.config import ModelConfig


class ForwardOutput(NamedTuple):
    """What one training forward pass returns."""

    recon: torch.Tensor
    """Reconstruction of the normalised input, (batch, inputs)."""
    fired: torch.Tensor
    """Which latents were active on at least one sample of the batch, (latents,) bool."""
    l0: torch.Tensor
    """Mean number of active latents per sample (a 0-d tensor on the model's device: reading it waits
    for the device, so the training loop reads it only when it logs)."""
    loss: torch.Tensor
    """Total loss: reconstruction plus sparsity penalty plus auxiliary loss."""
    mse: torch.Tensor
    """Mean squared reconstruction error per element."""
    aux_loss: torch.Tensor
    """Auxiliary dead-latent loss (0 when unused)."""


def _scatter_rows(cols: torch.Tensor, weights: torch.Tensor, rows_of: torch.Tensor, n_rows: int) -> torch.Tensor:
    """``out[c] = sum over (b, j) with cols[b, j] == c of weights[b, j] * rows_of[b]``, shaped (n_rows, d).

    A sparse (n_rows x batch) matrix times ``rows_of``: the gradient of a gathered weight matrix. It is
    several times faster on the CPU than the scatter-add that autograd would do for ``W[cols]``.
    """
    batch, width = cols.shape
    owners = torch.arange(batch, device=cols.device).repeat_interleave(width)
    sparse = torch.sparse_coo_tensor(torch.stack([cols.reshape(-1), owners]), weights.reshape(-1),
                                     (n_rows, batch), check_invariants=False)
    return torch.sparse.mm(sparse, rows_of)


def _fired(cols: torch.Tensor, on: torch.Tensor, n_latents: int) -> torch.Tensor:
    """(latents,) bool: latents in ``cols`` where ``on``; a scatter, so the host never waits for the device."""
    hits = torch.zeros(n_latents, dtype=torch.int32, device=cols.device)
    return hits.index_add_(0, cols.reshape(-1), on.reshape(-1).to(torch.int32)) > 0


class _SparseEncode(torch.autograd.Function):
    """ReLU of selected pre-activations, whose gradient reaches only the selected encoder rows."""

    @staticmethod
    def forward(ctx, x_aug, w_aug, cols, selected):
        values = torch.relu(selected)
        ctx.save_for_backward(x_aug, w_aug, cols, values > 0)
        return values

    @staticmethod
    def backward(ctx, grad):
        x_aug, w_aug, cols, on = ctx.saved_tensors
        grad = grad * on
        grad_x = F.embedding_bag(cols, w_aug, per_sample_weights=grad, mode="sum")
        grad_w = _scatter_rows(cols, grad, x_aug, w_aug.shape[0])
        return grad_x, grad_w, None, None


class _SparseDecode(torch.autograd.Function):
    """Sum of the decoder rows ``cols`` weighted by ``values``; sparse gradient for the decoder."""

    @staticmethod
    def forward(ctx, w_dec, cols, values):
        ctx.save_for_backward(w_dec, cols, values)
        return F.embedding_bag(cols, w_dec, per_sample_weights=values, mode="sum")

    @staticmethod
    def backward(ctx, grad):
        w_dec, cols, values = ctx.saved_tensors
        grad_values = (F.embedding(cols, w_dec) * grad[:, None, :]).sum(dim=-1)
        grad_w = _scatter_rows(cols, values, grad, w_dec.shape[0])
        return grad_w, None, grad_values


class SparseAutoencoder(nn.Module):
    """Overcomplete sparse autoencoder with a unit-norm decoder and built-in input normalisation.

    Parameters
    ----------
    n_inputs : int
        Number of neurons.
    config : ModelConfig
        Number of latents, activation, k and L1 coefficient.

    Notes
    -----
    The buffers ``input_mean`` and ``input_scale`` hold the normalisation learned on the training split,
    so they are saved with the weights and a loaded model needs nothing else.
    """

    def __init__(self, n_inputs: int, config: ModelConfig):
        super().__init__()
        config.validate()
        self.config = config
        self.n_inputs = n_inputs
        self.n_latents = config.n_latents
        self.W_enc = nn.Parameter(torch.empty(config.n_latents, n_inputs))
        self.b_enc = nn.Parameter(torch.zeros(config.n_latents))
        self.W_dec = nn.Parameter(torch.empty(config.n_latents, n_inputs))
        self.b_dec = nn.Parameter(torch.zeros(n_inputs))
        self.register_buffer("input_mean", torch.zeros(n_inputs))
        self.register_buffer("input_scale", torch.ones(n_inputs))
        # batchtopk: activations below this are zeroed at inference (estimated during training)
        self.register_buffer("threshold", torch.zeros(()))
        self.reset_parameters()

    # -- initialisation -------------------------------------------------------------------------
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Random unit-norm decoder rows; encoder tied to the decoder (its transpose)."""
        with torch.no_grad():
            w = torch.randn(self.n_latents, self.n_inputs, generator=generator)
            w /= w.norm(dim=1, keepdim=True)
            self.W_dec.copy_(w)
            self.W_enc.copy_(w)
            self.b_enc.zero_()
            self.b_dec.zero_()

    def init_from_data(self, x_normalised: torch.Tensor, max_samples: int = 16384) -> None:
        """Set the decoder bias to the data's coordinate-wise median; for ``relu``, also the encoder bias.

        With ``relu``, each latent's bias starts at minus its ``1 - k / n_latents`` quantile of
        pre-activation on the data, so about ``k`` latents fire per sample from the first step instead
        of half of them; the L1 penalty then only has to refine the thresholds.
        """
        with torch.no_grad():
            x = x_normalised[:max_samples]
            self.b_dec.copy_(x.median(dim=0).values)
            if self.config.activation == "relu":
                pre = (x - self.b_dec) @ self.W_enc.T
                q = 1.0 - min(self.config.k / self.n_latents, 0.5)
                self.b_enc.copy_(-torch.quantile(pre, q, dim=0))

    # -- normalisation --------------------------------------------------------------------------
    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Input units to model units."""
        return (x - self.input_mean) / self.input_scale

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        """Model units back to input units."""
        return x * self.input_scale + self.input_mean

    # -- encoding ---------------------------------------------------------------------------------
    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        """Dense encoder output before the activation, (batch, latents)."""
        return torch.addmm(self.b_enc, x - self.b_dec, self.W_enc.T)

    def sparse_activations(self, x: torch.Tensor, cols: torch.Tensor, pre: torch.Tensor | None = None
                           ) -> torch.Tensor:
        """Activations (batch, j) of latents ``cols`` (batch, j), with gradient for those entries only.

        ``pre`` are the dense pre-activations of ``x`` if already computed (they are not recomputed).
        """
        if pre is None:
            with torch.no_grad():
                pre = self.pre_activations(x)
        # the encoder bias rides along as an extra weight column, so one sparse product serves both
        w_aug = torch.cat([self.W_enc, self.b_enc[:, None]], dim=1)
        x_aug = F.pad(x - self.b_dec, (0, 1), value=1.0)
        # under bf16 autocast ``pre`` is bfloat16; the few selected values are trained in float32
        return _SparseEncode.apply(x_aug, w_aug, cols, pre.gather(1, cols).float())

    def decode_sparse(self, cols: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """Sum of the decoder rows ``cols`` (batch, j) weighted by ``values``, without the bias."""
        return _SparseDecode.apply(self.W_dec, cols, values)

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Dense codes (batch, latents) of normalised input ``x``, as used at inference."""
        pre = torch.relu(self.pre_activations(x))
        kind = self.config.activation
        if kind == "topk":
            values, cols = pre.topk(int(self.config.k), dim=1, sorted=False)
            return torch.zeros_like(pre).scatter_(1, cols, values)
        if kind == "batchtopk":
            return pre * (pre > self.threshold)
        return pre

    # -- decoding ---------------------------------------------------------------------------------
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Normalised reconstruction of dense codes (batch, latents)."""
        return codes @ self.W_dec + self.b_dec

    # -- training ---------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, dead: torch.Tensor | None = None,
                aux_coefficient: float = 0.0) -> ForwardOutput:
        """Training forward pass on normalised input ``x``; ``dead`` marks latents for the auxiliary loss."""
        zero = x.new_zeros(())
        if self.config.activation == "relu":  # dense codes
            acts = torch.relu(self.pre_activations(x))
            recon = self.decode(acts)
            mse = (recon - x).pow(2).mean()
            active = acts.detach() > 0
            penalty = self.config.l1_coefficient * acts.sum(dim=1).mean()
            return ForwardOutput(recon, active.any(dim=0), active.sum() / x.shape[0],
                                 mse + penalty, mse, zero)

        with torch.no_grad():
            pre = self.pre_activations(x)
            cols, mask = self._select(pre)
        values = self.sparse_activations(x, cols, pre)
        if mask is not None:
            values = values * mask
        recon = self.decode_sparse(cols, values) + self.b_dec
        mse = (recon - x).pow(2).mean()
        with torch.no_grad():
            on = values > 0
            fired = _fired(cols, on, self.n_latents)
            l0 = on.sum() / x.shape[0]
            if self.config.activation == "batchtopk":
                self._update_threshold(values[on])
        aux = zero
        if dead is not None and aux_coefficient > 0 and bool(dead.any()):
            aux = self._aux_loss(x, pre, recon.detach(), dead)
        return ForwardOutput(recon, fired, l0, mse + aux_coefficient * aux, mse, aux)

    def _select(self, pre: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Latents kept per sample as a (batch, j) index matrix, and a 0/1 mask for padded entries.

        topk keeps exactly k per sample. batchtopk keeps the k x batch largest activations of the whole
        batch, so rows hold different numbers; they are padded to the longest row.
        """
        k = self.config.k
        if self.config.activation == "topk":
            return pre.topk(int(k), dim=1, sorted=False).indices, None
        batch = pre.shape[0]
        count = min(max(1, round(k * batch)), pre.numel())
        flat = pre.reshape(-1).topk(count, sorted=False).indices.sort().values
        rows, cols = flat // self.n_latents, flat % self.n_latents
        counts = torch.bincount(rows, minlength=batch)
        starts = torch.cumsum(counts, 0) - counts
        position = torch.arange(flat.numel(), device=pre.device) - starts[rows]
        width = max(int(counts.max()), 1)
        padded = torch.zeros(batch, width, dtype=torch.long, device=pre.device)
        mask = torch.zeros(batch, width, dtype=pre.dtype, device=pre.device)
        padded[rows, position] = cols
        mask[rows, position] = 1.0
        return padded, mask

    def _aux_loss(self, x, pre, recon, dead) -> torch.Tensor:
        """AuxK: the best dead latents try to explain the residual (Gao et al. 2024)."""
        k_aux = int(min(max(self.n_inputs // 2, 1), int(dead.sum())))
        with torch.no_grad():
            cols = pre.masked_fill(~dead[None, :], float("-inf")).topk(k_aux, dim=1, sorted=False).indices
        residual = x - recon
        aux_recon = self.decode_sparse(cols, self.sparse_activations(x, cols, pre))
        denom = (residual - residual.mean(dim=0)).pow(2).sum().clamp_min(1e-8)
        return (aux_recon - residual).pow(2).sum() / denom

    @torch.no_grad()
    def _update_threshold(self, values: torch.Tensor, momentum: float = 0.99) -> None:
        if values.numel() == 0:
            return
        smallest = values.min()
        if float(self.threshold) == 0.0:
            self.threshold.copy_(smallest)
        else:
            self.threshold.mul_(momentum).add_((1 - momentum) * smallest)

    @torch.no_grad()
    def normalize_decoder_(self) -> None:
        """Put every decoder row back on the unit sphere."""
        self.W_dec.div_(self.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-8))

    @torch.no_grad()
    def remove_parallel_gradient_(self) -> None:
        """Drop the gradient component along each decoder row (it would only change the row's norm)."""
        if self.W_dec.grad is None:
            return
        parallel = (self.W_dec.grad * self.W_dec).sum(dim=1, keepdim=True)
        self.W_dec.grad.sub_(parallel * self.W_dec)
