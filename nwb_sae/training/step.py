"""The fleet's training step written out: pre-activations, which latents are active, and the gradients.

:func:`gradients` gives every instance's gradients of its mean squared error without autograd (the
tests check them against autograd). An instance codes a sample either with a threshold (BatchTopK
trained as a threshold code: the latents above ``theta``) or, for per-sample TopK instances, with its
``k`` largest pre-activations (``ranks``); the rest of the step is the same for both.
"""

from __future__ import annotations

import torch

SPARSE_DENSITY = 1 / 64
"""With more latents than neurons, a step gathers the active codes' atoms when at most this fraction
of the codes is active, and multiplies dense matrices otherwise."""


def pre_activations(x: torch.Tensor, W_enc, b_enc, b_dec, mask) -> torch.Tensor:
    """ReLU pre-activations (instances, batch, latents); masked latents are 0 (``mask`` None: none is).

    ``x`` is (batch, neurons), shared by every instance (one matrix product for all of them:
    ``(x - b_dec) W^T = x W^T - b_dec W^T``), or (instances, batch, neurons).
    """
    if x.dim() == 3:
        pre = torch.baddbmm(b_enc.unsqueeze(1), x - b_dec.unsqueeze(1), W_enc.transpose(1, 2))
        return torch.relu(pre) * mask.unsqueeze(1)
    n_inst, n_lat, n_in = W_enc.shape
    shift = b_enc - torch.bmm(W_enc, b_dec.unsqueeze(2)).squeeze(2)
    pre = torch.addmm(shift.reshape(-1), x, W_enc.reshape(n_inst * n_lat, n_in).t()).clamp_min_(0)
    pre = pre.view(x.shape[0], n_inst, n_lat)
    if mask is not None:
        pre *= mask
    return pre.transpose(0, 1)


def active_latents(pre: torch.Tensor, theta: torch.Tensor, ranks: torch.Tensor | None = None) -> torch.Tensor:
    """(instances, samples, latents) bool: the coded latents of pre-activations ``pre``.

    A latent is active when its pre-activation exceeds the instance's threshold ``theta`` (0 for
    TopK instances) and, when ``ranks`` (instances,) is given, is among the ``ranks[i]`` largest of
    its sample (per-sample TopK; every instance of such a fleet is TopK).
    """
    active = pre > theta.view(-1, 1, 1)
    if ranks is not None:
        # the smallest of each sample's ranks[i] largest, one unsorted topk per distinct rank (40%
        # faster than one sorted topk of the largest rank for all instances)
        distinct = ranks.unique().tolist()
        if len(distinct) == 1:
            cut = pre.topk(int(distinct[0]), dim=2, sorted=False).values.amin(dim=2, keepdim=True)
        else:
            cut = torch.empty(pre.shape[0], pre.shape[1], 1, dtype=pre.dtype, device=pre.device)
            for rank in distinct:
                idx = torch.nonzero(ranks == rank).squeeze(1)
                cut[idx] = pre[idx].topk(int(rank), dim=2, sorted=False).values.amin(dim=2, keepdim=True)
        active &= pre >= cut
    return active


def codes_of(pre: torch.Tensor, theta: torch.Tensor, ranks: torch.Tensor | None = None) -> torch.Tensor:
    """Codes (instances, samples, latents): the active pre-activations, the rest 0."""
    return pre * active_latents(pre, theta, ranks)


def gradients(xb, W_enc, b_enc, W_dec, b_dec, mask, theta, ranks=None):
    """Gradients of every instance's mean squared error without autograd; active codes per instance; fired latents.

    The loss of instance ``i`` is ``|x - b_i - c W_i|^2 / (batch * neurons)`` with codes
    ``c = pre * active`` (:func:`active_latents`: above the threshold ``theta_i``, and among the
    ``ranks_i`` largest of the sample for TopK instances); the gradient through the codes treats the
    cut as fixed, like autograd of ``pre * active`` would. Every product over the batch that all instances
    share (the encoder, the gradients of the encoder weights) is one matrix product for all of them.
    With fewer latents than neurons the error is expanded as
    ``|x - b_i|^2 - 2 c.W_i(x - b_i) + c W_i W_i^T c`` so that nothing of size (instances, batch,
    neurons) is formed; with more, only the active codes' atoms are gathered (a wide dictionary keeps
    a few of its latents active) and the residual is formed (it is then the smaller tensor).
    """
    n_b, n_in = xb.shape
    n_inst, n_lat, _ = W_enc.shape
    flat = n_inst * n_lat
    scale = 2.0 / (n_b * n_in)
    pre = pre_activations(xb, W_enc, b_enc, b_dec, mask)                              # (I, B, L)
    active = active_latents(pre, theta, ranks)
    if n_lat <= n_in:
        codes = pre * active
        code_sum = codes.sum(1)                                                       # (I, L)
        proj = (xb @ W_dec.reshape(flat, n_in).t()).view(n_b, n_inst, n_lat).transpose(0, 1) \
            - torch.bmm(W_dec, b_dec.unsqueeze(2)).squeeze(2).unsqueeze(1)              # W_i (x - b_i)
        d_codes = (torch.bmm(codes, torch.bmm(W_dec, W_dec.transpose(1, 2))) - proj) * scale
        codes_t = codes.transpose(0, 1).reshape(n_b, flat).t()                        # (I*L, B)
        g_W_dec = (torch.bmm(torch.bmm(codes.transpose(1, 2), codes), W_dec)
                   - (codes_t @ xb).view(n_inst, n_lat, n_in)
                   + code_sum.unsqueeze(2) * b_dec.unsqueeze(1)) * scale
        g_b_dec = (n_b * b_dec + torch.bmm(code_sum.unsqueeze(1), W_dec).squeeze(1) - xb.sum(0)) * scale
    elif float(active.sum()) > active.numel() * SPARSE_DENSITY:  # wide and dense: the residual by products
        codes = pre * active
        residual = (torch.baddbmm(b_dec.unsqueeze(1), codes, W_dec) - xb) * scale     # (I, B, N)
        d_codes = torch.bmm(residual, W_dec.transpose(1, 2))
        g_W_dec = torch.bmm(codes.transpose(1, 2), residual)
        g_b_dec = residual.sum(1)
    else:  # wide: a few of many latents are active, so the decoder side is gathered, not multiplied
        inst, row, lat = torch.nonzero(active, as_tuple=True)
        values, atom, sample = pre[inst, row, lat], inst * n_lat + lat, inst * n_b + row
        decoder = W_dec.reshape(flat, n_in)[atom]                                     # (active, N)
        residual = b_dec.repeat_interleave(n_b, dim=0).index_add_(0, sample, values.unsqueeze(1) * decoder)
        residual = (residual.view(n_inst, n_b, n_in) - xb) * scale                    # (I, B, N)
        d_values = (residual.view(-1, n_in)[sample] * decoder).sum(1)
        g_W_dec = torch.zeros(flat, n_in, device=xb.device).index_add_(
            0, atom, values.unsqueeze(1) * residual.view(-1, n_in)[sample]).view(n_inst, n_lat, n_in)
        g_b_dec = residual.sum(1)
        pre_sum = torch.zeros(flat, device=xb.device).index_add_(0, atom, d_values).view(n_inst, n_lat)
        g_W_enc = torch.zeros(flat, n_in, device=xb.device).index_add_(
            0, atom, d_values.unsqueeze(1) * xb[row]).view(n_inst, n_lat, n_in) - pre_sum.unsqueeze(2) * b_dec.unsqueeze(1)
        g_b_dec = g_b_dec - torch.bmm(pre_sum.unsqueeze(1), W_enc).squeeze(1)
        fired = torch.zeros(flat, dtype=torch.bool, device=xb.device)
        fired[atom] = True
        counts = torch.bincount(inst, minlength=n_inst)
        return [g_W_enc, pre_sum, g_W_dec, g_b_dec], counts, fired.view(n_inst, n_lat)
    d_pre = d_codes * active
    pre_sum = d_pre.sum(1)
    g_W_enc = (d_pre.transpose(0, 1).reshape(n_b, flat).t() @ xb).view(n_inst, n_lat, n_in) \
        - pre_sum.unsqueeze(2) * b_dec.unsqueeze(1)
    g_b_dec = g_b_dec - torch.bmm(pre_sum.unsqueeze(1), W_enc).squeeze(1)
    return [g_W_enc, pre_sum, g_W_dec, g_b_dec], active.sum(dim=(1, 2)), active.any(dim=1)
