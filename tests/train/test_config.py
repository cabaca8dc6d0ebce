"""The shared training knobs: defaults, validation and overrides through a problem's Config."""
import pytest

from hodphys.app.settings import resolve_config
from hodphys.app.problem_loader import find_problem
from hodphys.train.config import TrainConfig, dtype_of, validate


def test_a_problem_config_extends_the_shared_knobs_and_overrides_are_typed():
    config = resolve_config(find_problem("poisson").Config, None, ["dtype=float64", "widths=[20, 20]", "lr=3e-3"])
    assert config.outputs == 8 and config.adam_steps == 1000 and config.widths == [20, 20]
    assert isinstance(config, TrainConfig) and config.lr == 0.003 and str(dtype_of(config)) == "torch.float64"


def test_unknown_keys_and_wrong_types_name_the_key_and_list_the_valid_ones():
    cls = find_problem("poisson").Config
    with pytest.raises(ValueError, match=r"unknown config key\(s\) \['adam_step'\].*known keys: \[.*'adam_steps'"):
        resolve_config(cls, None, ["adam_step=3"])
    with pytest.raises(ValueError, match="config key 'adam_steps': expected an integer, got 'many'"):
        resolve_config(cls, None, ["adam_steps=many"])


@pytest.mark.parametrize("key, value, message", [
    ("dtype", "float16", r"config key 'dtype': expected one of \['float32', 'float64'\], got 'float16'"),
    ("optimizer", "sgd", r"config key 'optimizer': expected one of \['lbfgs', 'newton-krylov', 'none'\]"),
    ("activation", "relu", r"config key 'activation': expected one of \['tanh', 'sin'"),
    ("n_interior", 0, r"config key 'n_interior': expected value to be an integer ≥ 1, got 0"),
    ("adam_steps", -1, r"config key 'adam_steps': expected value to be an integer ≥ 0, got -1"),
    ("widths", [], r"config key 'widths': expected a non-empty list of positive widths, got \[\]"),
    ("lr", 0.0, r"config keys 'lr', 'lr_final': expected positive finite rates, got 0.0, 0.0001"),
])
def test_bad_values_are_refused(key, value, message):
    config = TrainConfig()
    setattr(config, key, value)
    with pytest.raises(ValueError, match=message):
        validate(config)


def test_a_number_that_is_not_a_number_says_what_was_expected():
    cls = find_problem("poisson").Config
    with pytest.raises(ValueError, match="config key 'lr': expected a number, got 'fast'"):
        resolve_config(cls, None, ["lr=fast"])


def test_optional_fields_in_both_spellings_take_none_or_a_value():
    """``X | None`` and ``Optional[X]`` fields (a problem's "None: use the default" knobs)."""
    import dataclasses
    from typing import Optional

    @dataclasses.dataclass
    class Knobs:
        steps: int | None = None
        name: Optional[str] = None  # noqa: UP045 - the old spelling must work too

    config = resolve_config(Knobs, None, ["steps=12", "name=weak"])
    assert (config.steps, config.name) == (12, "weak")
    assert resolve_config(Knobs, None, ["steps=none"]).steps is None
    with pytest.raises(ValueError, match="expected an integer"):
        resolve_config(Knobs, None, ["steps=1.5"])
