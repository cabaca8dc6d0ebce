"""Layers and network builders hodphys adds to torch.nn; every derivative engine understands them
(HollowNet is served by the hollow and autograd engines)."""
from hodphys.nn.activations import LogCosh, Quadratic, Sin
from hodphys.nn.block import Branch, BranchBlock
from hodphys.nn.builders import ICNN, MLP, ResNet
from hodphys.nn.compose import check_composition, leaf_layers
from hodphys.nn.hollow import BoundHollowNet, HollowNet
from hodphys.nn.icnn import ICNNLayer, QuadraticICNNLayer, QuadraticLayer
from hodphys.nn.residual import ResidualBlock
from hodphys.nn.transforms import FourierFeatures, HardConstraint, affine_input

__all__ = ["Sin", "LogCosh", "Quadratic", "ResidualBlock", "ICNNLayer", "QuadraticLayer",
           "QuadraticICNNLayer", "MLP", "ResNet", "ICNN", "Branch", "BranchBlock",
           "check_composition", "leaf_layers", "HollowNet", "BoundHollowNet", "FourierFeatures", "HardConstraint",
           "affine_input"]
