# Copyright 2026 The disdepth_ros Authors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""
Distributed data parallel helpers for ``torchrun`` (single or multi node).

``torchrun --nproc_per_node N [--nnodes M ...] -m disdepth_ros.cli train --config X.yaml`` sets
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous variables; :func:`init_distributed`
reads them and joins the process group (NCCL on CUDA, gloo on CPU).  Without them training runs
in a single process and every helper here degrades to a no-op.  Only rank 0 logs and writes
checkpoints.
"""

from dataclasses import dataclass
import hashlib
import os
from typing import Any, List

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    """
    Where this process sits in the job.

    :param rank: global rank (0 when not distributed)
    :param world_size: number of processes (1 when not distributed)
    :param local_rank: rank on this node (selects the GPU)
    :param device: the torch device string this process trains on
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: str = 'cpu'

    @property
    def distributed(self) -> bool:
        """Whether more than one process takes part."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Whether this process logs and writes files (rank 0)."""
        return self.rank == 0


def resolve_device(preference: str, local_rank: int = 0) -> str:
    """
    Turn a device preference into a device string.

    :param preference: 'auto' (CUDA when available), 'cpu', 'cuda' or 'cuda:N'
    :param local_rank: GPU index to use for 'auto'/'cuda' under torchrun
    :return: e.g. 'cpu' or 'cuda:0'
    :raises ValueError: when CUDA is requested but unavailable, or the name is unknown
    """
    if preference == 'auto':
        return f'cuda:{local_rank}' if torch.cuda.is_available() else 'cpu'
    if preference == 'cpu':
        return 'cpu'
    if preference == 'cuda' or preference.startswith('cuda:'):
        if not torch.cuda.is_available():
            raise ValueError(f'device {preference!r} requested but CUDA is not available '
                             '(use device=cpu or device=auto)')
        return f'cuda:{local_rank}' if preference == 'cuda' else preference
    raise ValueError(f"unknown device {preference!r} (use 'auto', 'cpu', 'cuda' or 'cuda:N')")


def init_distributed(device_preference: str = 'auto') -> DistContext:
    """
    Join the process group when launched by ``torchrun`` (``WORLD_SIZE`` > 1).

    :param device_preference: see :func:`resolve_device`
    :return: the context of this process
    """
    world = int(os.environ.get('WORLD_SIZE', '1'))
    rank = int(os.environ.get('RANK', '0'))
    local_rank = int(os.environ.get('LOCAL_RANK', '0'))
    device = resolve_device(device_preference, local_rank)
    if world > 1 and not dist.is_initialized():
        backend = 'nccl' if device.startswith('cuda') else 'gloo'
        if device.startswith('cuda'):
            torch.cuda.set_device(torch.device(device))
        dist.init_process_group(backend=backend)
    return DistContext(rank=rank, world_size=world, local_rank=local_rank, device=device)


def shutdown(ctx: DistContext) -> None:
    """Leave the process group (if any)."""
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    """Wait for every rank (no-op when not distributed)."""
    if ctx.distributed:
        dist.barrier()


def all_reduce_mean(value: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """
    Average a tensor over ranks (returns a copy; the input is untouched).

    :param value: a tensor on this rank's device
    :param ctx: the distributed context
    :return: the mean over ranks
    """
    out = value.detach().clone()
    if ctx.distributed:
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        out /= ctx.world_size
    return out


def gather_objects(obj: Any, ctx: DistContext) -> List[Any]:
    """
    Collect one picklable object from every rank, on every rank (rank order).

    Used only for small values the processes of this job produce (digests, counters).

    :param obj: this rank's object
    :param ctx: the distributed context
    :return: list with one entry per rank
    """
    if not ctx.distributed:
        return [obj]
    out: List[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_buffers(module: torch.nn.Module, ctx: DistContext) -> None:
    """
    Copy rank 0's buffers (BatchNorm running statistics) to every rank.

    DDP keeps parameters in lockstep and broadcasts buffers before each forward, but the last
    forward of every rank still updates its own running statistics; this makes the ranks end
    with identical state.

    :param module: the (unwrapped) model
    :param ctx: the distributed context
    """
    if not ctx.distributed:
        return
    for buf in module.buffers():
        dist.broadcast(buf.data, src=0)


def parameter_digest(module: torch.nn.Module) -> str:
    """
    SHA-256 over the names and values of a module's parameters and buffers.

    Ranks that trained in lockstep have identical digests.

    :param module: the model
    :return: hex digest
    """
    sha = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        sha.update(name.encode())
        value = tensor.detach().to('cpu').contiguous()
        if value.dtype == torch.bfloat16:
            value = value.float()
        sha.update(value.numpy().tobytes())
    return sha.hexdigest()


def unwrap(module: torch.nn.Module) -> torch.nn.Module:
    """Return the module inside a ``DistributedDataParallel`` wrapper (or the module itself)."""
    return module.module if isinstance(module, torch.nn.parallel.DistributedDataParallel) \
        else module
