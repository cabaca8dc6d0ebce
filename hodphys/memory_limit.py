"""The memory limit every front-door call and every training run is checked against.

The limit is, in order of precedence: a call's ``max_memory=`` option, the environment variable
``HODPHYS_MAX_MEMORY``, else :data:`DEFAULT_FRACTION` of the memory available now (CPU:
``MemAvailable`` of /proc/meminfo; CUDA: free device memory plus what torch's allocator holds
unused). Values are bytes: an integer (``8000000000``), a size (``8GB``, ``512MiB``) or a
percentage of the available memory (``50%``). The available memory is read at most once per
:data:`REFRESH_SECONDS`, so a check costs well under a microsecond.

    check_bytes(estimate, what="hp.hessian(model, x)", advice="…", device=x.device)
"""
from __future__ import annotations

import math
import os
import re
import time
from typing import Any

from hodphys.errors import MemoryLimitError

ENVIRONMENT_VARIABLE = "HODPHYS_MAX_MEMORY"
DEFAULT_FRACTION = 0.8
REFRESH_SECONDS = 1.0
_UNITS = {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([a-zA-Z%]*)\s*$")
_available: dict[str, tuple[float, int]] = {}  # device → (when read, bytes available)


def format_bytes(n: float) -> str:
    """1.5e9 → '1.40 GiB'."""
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} B"


def parse_limit(value: Any, available: int, source: str) -> int:
    """A limit in bytes from a number or a string ('8GB', '512MiB', '50%'); ValueError naming source."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number, unit = float(value), ""
    else:
        match = _SIZE.match(str(value))
        if match is None or match.group(2).lower() not in (*_UNITS, "%"):
            raise ValueError(f"{source}: expected a number of bytes, a size like '8GB' or '512MiB', or a "
                             f"percentage like '50%', got {value!r}")
        number, unit = float(match.group(1)), match.group(2).lower()
    if not math.isfinite(number) or number <= 0 or (unit == "%" and number > 100):
        raise ValueError(f"{source}: expected a positive finite size (a percentage ≤ 100%), got {value!r}")
    return int(available * number / 100) if unit == "%" else int(number * _UNITS[unit])


def _read_available(device: str) -> int:
    if device.startswith("cuda"):
        import torch

        index = torch.device(device).index
        free, _ = torch.cuda.mem_get_info(index)
        return int(free + torch.cuda.memory_reserved(index) - torch.cuda.memory_allocated(index))
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def available_memory(device: Any = "cpu") -> int:
    """Bytes available on ``device`` now (re-read at most once per REFRESH_SECONDS)."""
    key = str(device)
    now = time.monotonic()
    cached = _available.get(key)
    if cached is None or now - cached[0] > REFRESH_SECONDS:
        cached = (now, _read_available(key))
        _available[key] = cached
    return cached[1]


def memory_limit(device: Any = "cpu", max_memory: Any = None) -> tuple[int, str]:
    """(limit in bytes, where it comes from) for ``device``."""
    if max_memory is not None:
        return parse_limit(max_memory, available_memory(device), "max_memory"), "max_memory"
    setting = os.environ.get(ENVIRONMENT_VARIABLE)
    if setting:
        return parse_limit(setting, available_memory(device), ENVIRONMENT_VARIABLE), ENVIRONMENT_VARIABLE
    return int(DEFAULT_FRACTION * available_memory(device)), \
        f"{DEFAULT_FRACTION:.0%} of the memory available on {device}"


def refusal(estimate: float, limit: int, source: str, what: str, advice: str, detail: str = "") -> MemoryLimitError:
    """The error of a refused computation: the estimate, the limit and where it comes from, what to do."""
    return MemoryLimitError(
        f"{what}: needs an estimated {format_bytes(estimate)}{f' ({detail})' if detail else ''}, over "
        f"the memory limit of {format_bytes(limit)} ({source}); {advice}. The limit is set by "
        f"max_memory= or the environment variable {ENVIRONMENT_VARIABLE} (bytes, '8GB', '50%')")


def check_bytes(estimate: float, what: str, advice: str, device: Any = "cpu", max_memory: Any = None,
                detail: str = "") -> None:
    """MemoryLimitError, before any work, when ``estimate`` bytes exceed the memory limit."""
    limit, source = memory_limit(device, max_memory)
    if estimate > limit:
        raise refusal(estimate, limit, source, what, advice, detail)
