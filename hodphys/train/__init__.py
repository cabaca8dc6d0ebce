"""Training any problem (:class:`~hodphys.train.protocol.TrainableProblem`): Adam → L-BFGS or HoD-Net
Newton–Krylov, checkpoints, torchrun.

    from hodphys.train import TrainConfig, solve
"""
from hodphys.train.config import TrainConfig
from hodphys.train.newton_krylov import NewtonKrylov
from hodphys.train.protocol import Batch, TrainableProblem
from hodphys.train.solve import solve
from hodphys.train.trainer import Trainer, TrainingDiverged

__all__ = ["TrainConfig", "NewtonKrylov", "Trainer", "TrainingDiverged", "solve", "TrainableProblem", "Batch"]
