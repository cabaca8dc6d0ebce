"""Fokker–Planck fitting of SDEs dx = f(x, t) dt + diag(g(x, t)) dW with dimension-wise derivatives.

    import hodphys.sde as sde
    from hodphys.nn import HollowNet

    drift, diffusion = HollowNet(8), sde.DiagonalDiffusion(HollowNet(8))     # g > 0 by construction
    terms = sde.density_terms(log_p, x, t)                 # log p model of z = (x, t): ∂_t s, ∇s, diag ∇²s
    r = sde.fokker_planck_residual(drift, diffusion, terms, x, t)   # (N,); HollowNets: 4 backward passes, any d
    paths = sde.sample_paths(drift, diffusion, x0, times, method="srk")   # torchsde, (T, N, d)
    sde.mmd(paths[-1], data), sde.wasserstein2(paths[-1], data)
"""
from hodphys.sde.coefficients import DiagonalDiffusion, DimwiseTerms, dimwise_terms, squared_terms
from hodphys.sde.density import DensityTerms, density_terms, plain_terms, space_time
from hodphys.sde.fokker_planck import fokker_planck_residual
from hodphys.sde.metrics import median_bandwidth, mmd, wasserstein2
from hodphys.sde.processes import DoubleWell, OrnsteinUhlenbeck
from hodphys.sde.sampling import ModuleSDE, sample_paths
from hodphys.sde.weak_form import GaussianTests, draw_tests, weak_residual

__all__ = ["DiagonalDiffusion", "DimwiseTerms", "dimwise_terms", "squared_terms", "DensityTerms",
           "density_terms", "plain_terms", "space_time", "fokker_planck_residual", "median_bandwidth", "mmd",
           "wasserstein2", "DoubleWell", "OrnsteinUhlenbeck", "ModuleSDE", "sample_paths",
           "GaussianTests", "draw_tests", "weak_residual"]
