"""hodphys.checks.check_integers: the one integer-count check every constructor and config uses."""
import re

import numpy as np
import pytest

from hodphys.checks import check_integers


def test_integers_at_or_above_the_minimum_pass():
    check_integers("f(…)", 1, a=1, b=10 ** 30, c=np.int64(3))
    check_integers("f(…)", 0, depth=0)


@pytest.mark.parametrize("value", [0, -2, 2.0, True, "3", None, np.float64(4.0)])
def test_anything_else_is_named(value):
    message = re.escape(f"f(x): expected width to be an integer ≥ 1, got {value!r}")
    with pytest.raises(ValueError, match=f"^{message}$"):
        check_integers("f(x)", 1, depth=3, width=value)
