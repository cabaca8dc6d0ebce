"""How far a reduced trajectory is from the full-order one.

Index letters: t time points, n free dofs.
"""
from __future__ import annotations

import numpy as np


def trajectory_errors(reference: np.ndarray, reduced: np.ndarray, reference_tip: np.ndarray,
                      reduced_tip: np.ndarray) -> dict[str, object]:
    """Tip RMS and max error (over time, Euclidean in 3-D), and the relative displacement error
    ‖u − u_ref‖/‖u_ref‖ per frame (0 where u_ref = 0).

    reference, reduced : (t, n) free displacements; reference_tip, reduced_tip : (t, 3).
    """
    if reference.shape != reduced.shape or reference_tip.shape != reduced_tip.shape:
        raise ValueError(f"trajectory_errors: expected trajectories of one shape, got {reference.shape} "
                         f"and {reduced.shape} (tips {reference_tip.shape}, {reduced_tip.shape})")
    tip_error = np.linalg.norm(reduced_tip - reference_tip, axis=1)
    scale = np.linalg.norm(reference, axis=1)
    frame_error = np.linalg.norm(reduced - reference, axis=1) / np.where(scale > 0, scale, np.inf)
    peak = float(np.linalg.norm(reference_tip, axis=1).max())
    rms = float(np.sqrt(np.mean(tip_error**2)))
    return {"tip_rms_error_m": rms, "tip_max_error_m": float(tip_error.max()),
            "tip_rms_error_relative_to_peak": rms / peak if peak > 0 else float("nan"),
            "relative_displacement_error_mean": float(frame_error.mean()),
            "relative_displacement_error_max": float(frame_error.max()),
            "tip_error_m": tip_error, "relative_displacement_error": frame_error}


def projection_error(decoder, snapshots: np.ndarray, mass) -> float:
    """How well a decoder represents snapshots (t, n): √(Σ_t ‖u_t − f(q_t)‖²_M / Σ_t ‖u_t − u₀‖²_M) with
    q_t = decoder.encode(u_t) — the decoder's own error, before any time stepping."""
    error = snapshots - decoder.decode(decoder.encode(snapshots))
    centred = snapshots - decoder.basis.offset
    return float(np.sqrt(np.sum(error * (mass @ error.T).T) / np.sum(centred * (mass @ centred.T).T)))
