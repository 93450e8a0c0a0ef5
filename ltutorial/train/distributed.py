"""Training on several processes with PyTorch's own engine: ``torch.distributed`` launched by ``torchrun``.

    torchrun --nproc_per_node=4 -m ltutorial reproduce cifar10-lt        # one machine, 4 GPUs
    torchrun --nnodes=2 --nproc_per_node=8 --rdzv-backend=c10d --rdzv-endpoint=HOST:29500 -m ltutorial ...

``torchrun`` starts one process per device and gives each the environment variables ``RANK`` (0..W-1
over all machines), ``WORLD_SIZE`` (W) and ``LOCAL_RANK`` (the device index on its machine). ``fit``
sees them and trains the model wrapped in ``DistributedDataParallel`` (DDP), which averages the
gradients of the W processes after every backward pass.

Same numbers as one process: every rank draws the same seeded permutation of the training set and
takes rows [r B/W, (r+1) B/W) of each global batch of B rows, so the W shards together are exactly
the single-process batch. DDP averages gradients: (1/W) sum_r grad mean_r(loss) is the gradient of the
mean over the global batch when the shards count equally; each rank's loss is scaled by W q_r / sum q
(q_r: its rows, or their class weights for a weighted mean like DRW's) so that it stays exact for an
uneven last batch and for weighted losses (one small all-reduce per step). Evaluation:
each rank predicts its slice of the test set, ``all_gather`` joins the slices (padded to one length,
then trimmed) and every rank computes the metrics on the whole set. Only rank 0 prints and writes.
A rank that dies makes the others fail: ``torchrun`` stops the job, and every collective has a
timeout (``init_distributed(timeout_s=...)``) instead of waiting forever.
DDP: Li et al., "PyTorch Distributed: Experiences on Accelerating Data Parallel Training", VLDB 2020.
"""

from __future__ import annotations

import contextlib
import datetime
import os

import torch
import torch.distributed as dist

__all__ = ["TORCHRUN_VARIABLES", "DEFAULT_TIMEOUT_S", "launched_by_torchrun", "is_distributed", "init_distributed",
           "resolve_device", "close_distributed", "quiet_unless_main", "rank", "world_size", "is_main_process",
           "device_names", "describe_processes", "check_global_batch", "shard_bounds", "batch_rows", "row_weights",
           "loss_share", "gather_rows", "all_reduce_sum", "wrap_model", "ShardedBatchSampler"]

#: The variables torchrun sets in every process it starts.
TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
#: How long a collective (a gradient all-reduce, a gather) waits for a peer before the job fails.
DEFAULT_TIMEOUT_S = 300


def launched_by_torchrun() -> bool:
    """True when this process was started by ``torchrun`` (``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` set)."""
    return all(v in os.environ for v in TORCHRUN_VARIABLES)


def is_distributed() -> bool:
    """True inside an initialised process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    """The number of processes W (1 without a process group)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main_process() -> bool:
    """True on rank 0 (and in a plain single process): the one that prints, shows progress and writes files."""
    return rank() == 0


def _rank_device(device: torch.device) -> torch.device:
    # One GPU per process: "cuda" (no index) means this process's GPU, cuda:LOCAL_RANK.
    if device.type == "cuda" and device.index is None:
        local = int(os.environ.get("LOCAL_RANK", 0))
        if local >= torch.cuda.device_count():
            raise ValueError(f"--nproc_per_node must be at most the number of GPUs ({torch.cuda.device_count()}): one "
                             f"process per GPU; got a process with LOCAL_RANK {local} instead.")
        return torch.device("cuda", local)
    return device


def init_distributed(device="auto", *, backend: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> torch.device:
    """Join torchrun's process group (once; later calls reuse it) and return this rank's device.

    Backend: NCCL on CUDA, gloo on the CPU (``backend`` overrides). ``timeout_s``: a collective that
    waits longer for a dead or stuck peer raises instead of hanging.
    """
    from ltutorial.device import get_device

    if not launched_by_torchrun():
        raise RuntimeError(f"init_distributed needs the torchrun variables {TORCHRUN_VARIABLES}; got none instead. "
                           "Start the script with torchrun --nproc_per_node=N.")
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or not timeout_s > 0:
        raise ValueError(f"timeout_s must be a number of seconds > 0; got {timeout_s!r} instead.")
    dev = _rank_device(get_device(device))
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        backend = backend or ("nccl" if dev.type == "cuda" else "gloo")
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(seconds=timeout_s),
                                device_id=dev if backend == "nccl" else None)
    return dev


def close_distributed() -> None:
    """Leave the process group (at the end of a command), so NCCL shuts down cleanly."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


@contextlib.contextmanager
def quiet_unless_main():
    """Within the block, ranks other than 0 print nothing to stdout (their errors still reach stderr)."""
    if not launched_by_torchrun() or int(os.environ["RANK"]) == 0:
        yield
        return
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        yield


def device_names(device: torch.device) -> list[str]:
    """The device of every rank, in rank order (e.g. ["NVIDIA H100 80GB HBM3", ...] or ["cpu", "cpu"])."""
    device = torch.device(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else device.type
    if not is_distributed():
        return [name]
    names = [None] * world_size()
    dist.all_gather_object(names, name)
    return names


def describe_processes(device: torch.device, batch_size: int, notes: list) -> dict:
    """``world_size`` and ``devices`` for a results file; with several processes, a line in ``notes`` saying
    that BatchNorm statistics come from each process's B/W rows."""
    if world_size() > 1:
        notes.append(f"{world_size()} processes (torchrun), global batch {batch_size}: BatchNorm statistics from each "
                     f"process's {batch_size // world_size()} rows, not the global batch's.")
    return {"world_size": world_size(), "devices": device_names(device)}


def check_global_batch(batch_size: int) -> int:
    """The rows each rank takes from a global batch, B / W; a B that W does not divide is refused."""
    w = world_size()
    if batch_size % w:
        raise ValueError(f"batch_size must be divisible by the number of processes ({w}) so that every rank takes the "
                         f"same share of each global batch; got {batch_size} instead.")
    return batch_size // w


def shard_bounds(n: int, r: int | None = None, w: int | None = None) -> tuple[int, int]:
    """[start, stop) of rank r's contiguous part of n rows: parts of sizes differing by at most one,
    in rank order (the same split as ``torch.tensor_split``)."""
    r = rank() if r is None else r
    w = world_size() if w is None else w
    q, extra = divmod(n, w)
    start = r * q + min(r, extra)
    return start, start + q + (1 if r < extra else 0)


def resolve_device(device="auto") -> torch.device:
    """``get_device(device)``, or under torchrun this rank's device after joining the process group."""
    from ltutorial.device import get_device

    return init_distributed(device) if launched_by_torchrun() else get_device(device)


def batch_rows(start: int, stop: int) -> tuple[int, int] | None:
    """This rank's rows [lo, hi) of the global batch [start, stop) (one process: all of them); None on every
    rank for a batch of fewer rows than processes, which all skip (DDP needs every rank to take each step)."""
    w = world_size()
    if w == 1:
        return start, stop
    if stop - start < w:
        return None
    lo, hi = shard_bounds(stop - start)
    return start + lo, start + hi


def row_weights(loss_fn, targets: torch.Tensor) -> torch.Tensor | None:
    """The per-row weights w_{y_i} a loss divides its sum by (sum_i w_i l_i / sum_i w_i: PyTorch's
    ``cross_entropy(weight=)`` and the package's LDAM, VS, focal, CE with a ``weight`` buffer), or None for
    a plain mean over the rows (``normalization="batch"`` of the class-balanced loss divides by the count)."""
    weight = getattr(loss_fn, "weight", None)
    by_weights = getattr(loss_fn, "normalization", "weights") == "weights"
    if isinstance(weight, torch.Tensor) and weight.ndim == 1 and by_weights and getattr(loss_fn, "reduction", "mean") == "mean":
        return weight[targets]
    return None


def loss_share(loss_fn, targets: torch.Tensor) -> torch.Tensor | None:
    """The factor W q_r / sum_r q_r for this rank's mean loss, q_r its rows' count (or weight sum, see
    ``row_weights``): DDP averages the gradients over the W ranks, so with the factor the update is the
    gradient of the global batch's mean loss even when the shares differ. None in one process."""
    if not is_distributed():
        return None
    w = row_weights(loss_fn, targets)
    q = w.sum().float() if w is not None else torch.tensor(float(targets.shape[0]), device=targets.device)
    return world_size() * q / all_reduce_sum(q)


def gather_rows(part: torch.Tensor) -> torch.Tensor:
    """Concatenate every rank's ``part`` (same trailing shape, lengths may differ by rank) in rank order."""
    if not is_distributed():
        return part
    # all_gather needs one shape: pad every part to the longest, then trim each back.
    lengths = [torch.zeros(1, dtype=torch.int64, device=part.device) for _ in range(world_size())]
    dist.all_gather(lengths, torch.tensor([part.shape[0]], dtype=torch.int64, device=part.device))
    lengths = [int(t) for t in lengths]
    padded = torch.zeros((max(lengths), *part.shape[1:]), dtype=part.dtype, device=part.device)
    padded[:part.shape[0]] = part
    parts = [torch.empty_like(padded) for _ in lengths]
    dist.all_gather(parts, padded.contiguous())
    return torch.cat([p[:k] for p, k in zip(parts, lengths)])


def all_reduce_sum(value: torch.Tensor) -> torch.Tensor:
    """The sum of ``value`` over the ranks (``value`` itself in one process)."""
    if is_distributed():
        value = value.clone()
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value


def wrap_model(model: torch.nn.Module, device: torch.device, sync_batchnorm: bool = False) -> torch.nn.Module:
    """``model`` wrapped in DistributedDataParallel (its BatchNorm layers made SyncBatchNorm first when
    ``sync_batchnorm``: statistics over the global batch, as in one process). The model's parameters
    are the wrapper's, so an optimizer built on ``model.parameters()`` keeps working."""
    if sync_batchnorm:
        if device.type != "cuda":
            raise ValueError(f"sync_batchnorm=True needs CUDA devices (PyTorch's SyncBatchNorm runs on GPUs only); got "
                             f"device {device} instead. Use a model without BatchNorm on the CPU, or sync_batchnorm=False "
                             "(each rank then normalises with the statistics of its own B/W rows).")
        # convert_sync_batchnorm swaps the child modules in place and keeps the Parameter objects.
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ids = [device.index] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)


class ShardedBatchSampler(torch.utils.data.Sampler):
    """Batches of dataset indices for a DataLoader: epoch e's permutation is ``torch.randperm(n)`` from
    a generator seeded with (seed, e); global batch k is rows [kB, (k+1)B) of it and this rank yields its
    contiguous B/W part (``drop_last``: no last partial batch). Call ``set_epoch(e)`` before each epoch."""

    def __init__(self, n: int, batch_size: int, *, seed: int = 0, drop_last: bool = False):
        self.n, self.batch_size, self.seed, self.drop_last, self.epoch = n, batch_size, seed, drop_last, 0
        check_global_batch(batch_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _global_batches(self):
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        perm = torch.randperm(self.n, generator=g)
        stop = (self.n // self.batch_size) * self.batch_size if self.drop_last else self.n
        return [perm[s:min(s + self.batch_size, stop)] for s in range(0, stop, self.batch_size)]

    def __iter__(self):
        for batch in self._global_batches():
            if len(batch) >= world_size():  # every rank must take a step, or the others wait for it
                a, b = shard_bounds(len(batch))
                yield batch[a:b].tolist()

    def __len__(self) -> int:
        full, rest = divmod(self.n, self.batch_size)
        return full + (1 if rest and not self.drop_last and rest >= world_size() else 0)
