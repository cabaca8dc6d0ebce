"""Peak memory of one contender call, above what its inputs and model already hold.

CPU: torch's allocations are invisible to tracemalloc, so each contender runs in a fresh child
process (multiprocessing "spawn") that builds the case, calls the contender once (lazy
initialisation is not working memory), resets the kernel's peak-RSS mark (``/proc/self/clear_refs``)
and calls it again; the result is VmHWM − VmRSS at the reset. glibc's dynamic mmap threshold
would let freed blocks stay resident and hide the second call's peak, so the child runs with
``MALLOC_MMAP_THRESHOLD_`` fixed at 64 KiB: every larger block is mapped and unmapped.
CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``, in this process.
"""
from __future__ import annotations

import gc
import multiprocessing
import os
import re
from collections.abc import Callable

import torch

from hodphys.bench.registry import BenchEnv, select_cases

_MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536"}
_STATUS = "/proc/self/status"


def _status_kib(field: str) -> int:
    with open(_STATUS) as status:
        return int(re.search(rf"^{field}:\s+(\d+) kB", status.read(), re.MULTILINE).group(1))


def _measure_rss(fn: Callable[[], object]) -> dict[str, int]:
    """Peak RSS increase of fn() over the resident size just before it (Linux)."""
    fn()
    gc.collect()
    baseline = _status_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # 5 resets VmHWM to the current RSS
    result = fn()
    peak = _status_kib("VmHWM")
    del result
    return {"peak_bytes": (peak - baseline) * 1024, "baseline_bytes": baseline * 1024}


def _child(conn, case: str, contender: str, env: BenchEnv, threads: int) -> None:
    """Entry point of the spawned process: build the case, measure one contender, send the dict."""
    try:
        torch.set_num_threads(threads)
        spec = select_cases(names=[case])[0].build(env)
        conn.send(_measure_rss(spec.contenders[contender]))
    except Exception as err:  # reported in the results, not raised: one contender's failure
        conn.send({"error": f"{type(err).__name__}: {err}"})
    finally:
        conn.close()


def rss_peak(case: str, contender: str, env: BenchEnv, threads: int, timeout: float = 600.0) -> dict:
    """Measure ``contender`` of ``case`` in a fresh process: {"peak_bytes", "baseline_bytes"} or {"error"}."""
    if not os.path.exists("/proc/self/clear_refs"):
        return {"error": "peak RSS needs Linux's /proc/self/clear_refs"}
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    saved = {key: os.environ.get(key) for key in _MALLOC_ENV}
    os.environ.update(_MALLOC_ENV)  # the spawned interpreter inherits it; glibc reads it at start
    try:
        process = context.Process(target=_child, args=(send, case, contender, env, threads), daemon=True)
        process.start()
    finally:
        for key, value in saved.items():
            os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)
    send.close()
    try:
        result = receive.recv() if receive.poll(timeout) else {"error": f"no answer within {timeout:.0f} s"}
    except EOFError:  # the child died before answering (killed, out of memory, crashed)
        result = None
    process.join(timeout=10)
    if process.is_alive():
        process.kill()
        process.join()
    return result or {"error": f"the measuring process exited with code {process.exitcode}"}


def cuda_peak(fn: Callable[[], object], device: torch.device) -> dict[str, int]:
    """Peak CUDA allocation of fn() above the allocation before it (after one warm-up call)."""
    fn()
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    baseline = torch.cuda.memory_allocated(device)
    result = fn()
    torch.cuda.synchronize(device)
    peak = torch.cuda.max_memory_allocated(device)
    del result
    return {"peak_bytes": peak - baseline, "baseline_bytes": baseline}
