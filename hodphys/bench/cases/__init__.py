"""Benchmark cases, one module per group; every module here is imported by ``hodphys bench``.

To add a case, write in a module of this package (a new file needs no registration)::

    @bench_case("E-my-case", group="mygroup")
    def my_case(env: BenchEnv) -> BenchSpec:
        model = tanh_mlp([3, env.size(64, 8), 1], env)
        x = randn(env, env.size(1024, 4), 3)
        return BenchSpec("Laplacian of 3→64→1, batch 1024",
                         {**engine_contenders(lambda method: hp.laplacian(model, x, method=method),
                                              model, x, "laplacian"),
                          "torch.func": func_laplacian(model, x)})
"""
