"""Data-parallel training under ``torchrun``: one model, every rank a slice of each global batch.

``torchrun --standalone --nproc_per_node=N -m nwb_sae train ...`` starts N processes with the usual
environment variables (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``...). :func:`context` joins them
(gloo on the CPU, nccl on CUDA). Every rank draws the same shuffled order of the same samples and
trains on its own contiguous slice of each global batch (``batch_size / world_size`` rows); after
the backward pass the gradients are averaged with one ``all_reduce`` per parameter, so each rank
takes the same step as one process on the whole global batch (up to float summation order). Only
``all_reduce``, ``broadcast`` and ``barrier`` are used: gloo has them all. Rank 0 alone writes files.
Gradients are averaged by hand rather than by DistributedDataParallel's hooks because the model's
custom sparse backward functions produce dense gradients once per step anyway, and a plain loop is
deterministic and independent of bucket order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Context:
    """Where this process stands in a data-parallel run (world size 1: a plain run)."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """True on the process that writes checkpoints and outputs."""
        return self.rank == 0

    def shard(self, xb: torch.Tensor) -> torch.Tensor:
        """This rank's contiguous slice of a global batch."""
        if self.world_size == 1:
            return xb
        per_rank = xb.shape[0] // self.world_size
        return xb[self.rank * per_rank:(self.rank + 1) * per_rank]

    def average_gradients(self, model: torch.nn.Module) -> None:
        """Replace every gradient by its mean over the ranks."""
        if self.world_size == 1:
            return
        for param in model.parameters():
            if param.grad is not None:
                dist.all_reduce(param.grad, op=dist.ReduceOp.SUM)
                param.grad.div_(self.world_size)

    def any_rank(self, flags: torch.Tensor) -> torch.Tensor:
        """Element-wise OR of a bool tensor over the ranks (e.g. which latents fired anywhere)."""
        if self.world_size == 1:
            return flags
        counts = flags.to(torch.int32)
        dist.all_reduce(counts, op=dist.ReduceOp.SUM)
        return counts > 0

    def barrier(self) -> None:
        """Wait for every rank (e.g. until rank 0 has written a checkpoint)."""
        if self.world_size > 1:
            dist.barrier()


def in_torchrun() -> bool:
    """True in a process that torchrun started as one of several (``WORLD_SIZE`` > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def refuse_ensemble_fit(source: str) -> None:
    """Raise when torchrun started several processes for the default (batchtopk) ensemble fit.

    The ensemble fit (model selection, several seeds, significance and stability statistics) runs in
    one process; it is not data-parallel, so under torchrun each rank would run it whole, or, as
    before, a single threshold model would be trained in its place.

    Parameters
    ----------
    source : str
        The input the fit was given (named in the message).

    Raises
    ------
    nwb_sae.errors.InputDataError
        Under torchrun (``WORLD_SIZE`` > 1); nothing in a plain run.
    """
    if not in_torchrun():
        return
    from nwb_sae.errors import InputDataError

    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    raise InputDataError(
        f"{source}: the default ensemble fit (activation 'batchtopk': model selection, several seeds, "
        f"significance and stability statistics) runs in one process and is not data-parallel; torchrun "
        f"started {world_size} processes. Run the same command without torchrun (`nwb-sae train ...` or "
        "`python -m nwb_sae train ...`), or train one data-parallel model under torchrun with "
        "`--activation topk` or `--activation relu` (SAE(activation='topk'))."
    )


def context(device: torch.device) -> Context:
    """The torchrun context of this process; joins the process group on first use (gloo or nccl)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Context()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Context(dist.get_rank(), dist.get_world_size())


SINGLE = Context()
"""The context of a plain, one-process run."""
