"""Layers hodphys adds to torch.nn (HollowNet is served by the hollow and autograd engines)."""
from hodphys.nn.activations import Sin
from hodphys.nn.hollow import BoundHollowNet, HollowNet
from hodphys.nn.residual import ResidualBlock

__all__ = ["Sin", "ResidualBlock", "HollowNet", "BoundHollowNet"]
