"""What hodphys is measured against: torch.func and DeepXDE-style autograd loops
(:mod:`~hodphys.bench.references.baselines`), hessQuik twins of a network
(:mod:`~hodphys.bench.references.hessquik`) and felupe's FEM model (:mod:`~hodphys.bench.references.felupe`).
The optional packages (hessQuik, felupe) are imported only when a reference is built."""
