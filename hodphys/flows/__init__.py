"""Continuous normalizing flows: exact log-likelihoods at the price of stochastic ones.

    import torch
    from hodphys.flows import CNF, hollow_dynamics

    flow = CNF(hollow_dynamics(2))          # dz/dt = f(z, t), f a time-conditioned HollowNet
    x = torch.randn(256, 2)
    log_p = flow.log_prob(x)                # exact trace: one backward pass per evaluation
    loss, terms = flow.loss(x)              # mean NLL (+ RNODE kinetic / Jacobian terms)
    loss.backward(); print(flow.nfe)        # NFE(forward=…, backward=…)
    samples = flow.sample(1000)

The ODE is torchdiffeq's (dopri5 by default, "rk4" with fixed steps, adjoint on request).
"""
from hodphys.flows.cnf import CNF, JACOBIAN_FRACTION, NFE, FlowTerms, standard_normal_log_prob
from hodphys.flows.data import DATASETS, FlowDataset, flow_dataset
from hodphys.flows.datasets import TOY_DATASETS, toy_data
from hodphys.flows.dynamics import TimeConditionedMLP, bind, hollow_dynamics
from hodphys.flows.ode import ODEOptions
from hodphys.flows.trace import ESTIMATORS, NOISES, evaluate_field, probe_noise

__all__ = ["CNF", "JACOBIAN_FRACTION", "NFE", "FlowTerms", "ODEOptions", "hollow_dynamics", "TimeConditionedMLP",
           "bind",
           "ESTIMATORS", "NOISES", "evaluate_field", "probe_noise", "standard_normal_log_prob",
           "DATASETS", "TOY_DATASETS", "FlowDataset", "flow_dataset", "toy_data"]
