"""What hodphys is measured against: torch.func and DeepXDE-style autograd loops
(:mod:`~hodphys.bench.references.baselines`), hessQuik twins of a network
(:mod:`~hodphys.bench.references.hessquik`), felupe's FEM model (:mod:`~hodphys.bench.references.felupe`)
and DeepXDE's own Laplacian and training step (:mod:`~hodphys.bench.references.deepxde`). The optional
packages (hessQuik, felupe, DeepXDE) are imported only when a reference is built."""
