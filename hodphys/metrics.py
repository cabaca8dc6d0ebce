"""The one relative error every comparison in hodphys uses (tests, benchmarks, problem metrics)."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor


def relative_error(result: Any, reference: Any) -> float:
    """‖result − reference‖ / ‖reference‖, 2-norm over all entries; inf when the shapes differ.

    Tensors (result cast to the reference's dtype, no graph kept), NumPy arrays or numbers.
    """
    if isinstance(reference, Tensor):
        result, reference = torch.as_tensor(result).detach(), reference.detach()
        if result.shape != reference.shape:
            return math.inf
        scale = reference.norm().clamp_min(torch.finfo(reference.dtype).tiny)
        return float((result.to(reference.dtype) - reference).norm() / scale)
    result, reference = np.atleast_1d(np.asarray(result)), np.atleast_1d(np.asarray(reference))
    if result.shape != reference.shape:
        return math.inf
    return float(np.linalg.norm(result - reference) / max(np.linalg.norm(reference), np.finfo(float).tiny))
