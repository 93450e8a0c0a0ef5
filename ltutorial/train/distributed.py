"""Training on W processes started by ``torchrun --nproc_per_node=W -m ltutorial ...`` (``torch.distributed``).

``fit`` trains in DistributedDataParallel (Li et al., "PyTorch Distributed", VLDB 2020), which averages the W
gradients: each rank takes its B/W rows of every global batch of the same seeded permutation and scales its mean
loss by W q_r / sum_r q_r (q_r: its rows, or their class weights), so the average is the global batch's gradient.
"""

import contextlib
import datetime
import os

import torch
import torch.distributed as dist

from ltutorial._validation import check_number
from ltutorial.device import get_device

__all__ = ["TORCHRUN_VARIABLES", "launched_by_torchrun", "is_distributed", "init_distributed", "resolve_device",
           "close_distributed", "quiet_unless_main", "rank", "world_size", "is_main_process", "describe_processes",
           "check_global_batch", "check_run", "shard_bounds", "batch_rows", "loss_share", "gather_rows",
           "all_reduce_sum", "wrap_model"]

TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


def launched_by_torchrun() -> bool:
    return all(v in os.environ for v in TORCHRUN_VARIABLES)


def is_distributed() -> bool:  # inside an initialised process group of more than one process
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main_process() -> bool:  # the one that prints and writes files
    return rank() == 0


def init_distributed(device="auto", *, timeout_s: float = 300) -> torch.device:
    """Join torchrun's process group (NCCL on CUDA, gloo on the CPU, once); this rank's device (cuda:LOCAL_RANK)."""
    if not launched_by_torchrun():
        raise RuntimeError(f"init_distributed needs the torchrun variables {TORCHRUN_VARIABLES}; got none instead. "
                           "Start the script with torchrun --nproc_per_node=N.")
    check_number(timeout_s, name="timeout_s", strict=True)
    dev = get_device(device)
    if dev.type == "cuda" and dev.index is None:  # one GPU per process
        local = int(os.environ.get("LOCAL_RANK", 0))
        if local >= torch.cuda.device_count():
            raise ValueError(f"--nproc_per_node must be at most the number of GPUs ({torch.cuda.device_count()}): one "
                             f"process per GPU; got a process with LOCAL_RANK {local} instead.")
        dev = torch.device("cuda", local)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(seconds=timeout_s),
                                device_id=dev if backend == "nccl" else None)
    return dev


def resolve_device(device="auto") -> torch.device:
    """``get_device(device)``, or under torchrun this rank's device after joining the process group."""
    return init_distributed(device) if launched_by_torchrun() else get_device(device)


def close_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


@contextlib.contextmanager
def quiet_unless_main():
    """Within the block, ranks other than 0 print nothing to stdout (errors still reach stderr)."""
    if not launched_by_torchrun() or int(os.environ["RANK"]) == 0:
        yield
        return
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        yield


def describe_processes(device: torch.device, batch_size: int, notes: list) -> dict:
    """``world_size`` and every rank's ``devices`` for a results file."""
    names = [torch.cuda.get_device_name(device) if device.type == "cuda" else device.type]
    if is_distributed():
        notes.append(f"{world_size()} processes (torchrun), global batch {batch_size}: BatchNorm statistics from each "
                     f"process's {batch_size // world_size()} rows, not the global batch's.")
        names = names * world_size()
        dist.all_gather_object(names, names[0])
    return {"world_size": world_size(), "devices": names}


def check_global_batch(batch_size: int) -> int:
    """B / W, the rows each rank takes from a global batch of B."""
    if batch_size % world_size():
        raise ValueError(f"batch_size must be divisible by the number of processes ({world_size()}) so that every rank "
                         f"takes the same share of each global batch; got {batch_size} instead.")
    return batch_size // world_size()


def check_run(cfg, n_train: int, fast, n_test: int | None) -> None:
    """``fit``'s checks under torchrun (``cfg``: its checked ``FitConfig``)."""
    if not is_distributed():
        raise ValueError("sync_batchnorm=True needs a run of several processes started by torchrun; got a single "
                         "process instead.")
    if fast:
        raise ValueError("fast must be None or False under torchrun (the CUDA-graph engine is single-process); "
                         "got True instead.")
    check_global_batch(cfg.batch_size)
    if n_test is not None and n_test < world_size():
        raise ValueError(f"test must hold at least one image per process ({world_size()}); got {n_test} instead.")
    rest = 0 if cfg.drop_last else n_train % cfg.batch_size
    if 0 < rest < world_size() and is_main_process():
        print(f"fit: each epoch's last batch has {rest} rows, fewer than the {world_size()} processes: every process "
              "skips it (one process would train on it).")


def shard_bounds(n: int, r: int | None = None, w: int | None = None) -> tuple[int, int]:
    """[start, stop) of rank r's contiguous part of n rows (as ``torch.tensor_split``)."""
    r, w = rank() if r is None else r, world_size() if w is None else w
    q, extra = divmod(n, w)
    start = r * q + min(r, extra)
    return start, start + q + (1 if r < extra else 0)


def batch_rows(start: int, stop: int) -> tuple[int, int] | None:
    """This rank's rows of the global batch [start, stop); None (all skip) for fewer rows than processes."""
    if stop - start < world_size():
        return None
    lo, hi = shard_bounds(stop - start)
    return start + lo, start + hi


def loss_share(loss_fn, targets: torch.Tensor, total: int):
    """W q_r / sum_r q_r for this rank's mean loss (None in one process); q_r: the rows' class weights if the loss
    divides by them, else the row count, whose sum is ``total`` (the global batch's rows)."""
    if not is_distributed():
        return None
    weight = getattr(loss_fn, "weight", None)
    # divides by sum_i w_{y_i}: torch's CE / NLL with reduction "mean", or a loss that says so (lt.losses); another
    # weighted loss (e.g. nn.MultiMarginLoss) averages over its rows
    by_weights = getattr(loss_fn, "normalization", None) == "weights" or (
        isinstance(loss_fn, (torch.nn.CrossEntropyLoss, torch.nn.NLLLoss)) and loss_fn.reduction == "mean")
    if isinstance(weight, torch.Tensor) and weight.ndim == 1 and by_weights:
        q = weight[targets].sum().float()
        return world_size() * q / all_reduce_sum(q)
    return world_size() * targets.shape[0] / total


def gather_rows(part: torch.Tensor) -> torch.Tensor:
    """Every rank's ``part`` (lengths may differ) concatenated in rank order."""
    if not is_distributed():
        return part
    # all_gather needs one shape: pad every part to the longest, then trim each back.
    lengths = [0] * world_size()
    dist.all_gather_object(lengths, part.shape[0])
    padded = torch.zeros((max(lengths), *part.shape[1:]), dtype=part.dtype, device=part.device)
    padded[:part.shape[0]] = part
    parts = [torch.empty_like(padded) for _ in lengths]
    dist.all_gather(parts, padded.contiguous())
    return torch.cat([p[:k] for p, k in zip(parts, lengths)])


def all_reduce_sum(value: torch.Tensor) -> torch.Tensor:
    if is_distributed():
        value = value.clone()
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value


def wrap_model(model: torch.nn.Module, device: torch.device, sync_batchnorm: bool = False) -> torch.nn.Module:
    """``model`` in DistributedDataParallel (``sync_batchnorm``: SyncBatchNorm, global batch statistics)."""
    if sync_batchnorm:
        if device.type != "cuda":
            raise ValueError(f"sync_batchnorm=True needs CUDA devices (PyTorch's SyncBatchNorm runs on GPUs only); got "
                             f"device {device} instead. Use sync_batchnorm=False (each rank then normalises with the "
                             "statistics of its own B/W rows).")
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)  # swaps children in place, same Parameters
    ids = [device.index] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)

