"""check_hollow: the built-in conditioners are hollow; leaking ones are caught and located."""
import pytest
import torch
from torch import nn

import hodphys as hp
from hodphys.engines.hollow import check_hollow
from hodphys.nn import HollowNet


class AttentionConditioner(nn.Module):
    """h_i = Σ_{j≠i} softmax_j(q_i·k_j) v_j over tokens (x_j, position j).

    With ``query_sees_x=True`` the query q_i carries x_i — the leak check_hollow must catch;
    otherwise q_i comes from the position alone and the diagonal key is masked: hollow.
    """

    def __init__(self, d: int, features: int, query_sees_x: bool):
        super().__init__()
        self.features, self.query_sees_x = features, query_sees_x
        self.position = nn.Parameter(torch.randn(d, features))
        self.embed = nn.Parameter(torch.randn(features))
        self.key, self.value = nn.Linear(features, features), nn.Linear(features, features)
        self.register_buffer("own", torch.eye(d, dtype=torch.bool))

    def forward(self, x, extra=None):
        tokens = x.unsqueeze(-1) * self.embed + self.position  # (*B, d, c)
        query = tokens if self.query_sees_x else self.position.expand_as(tokens)
        scores = query @ self.key(tokens).transpose(-1, -2)  # (*B, d, d)
        weights = scores.masked_fill(self.own, float("-inf")).softmax(-1)
        return weights @ self.value(tokens)


def _attention_net(d: int, query_sees_x: bool) -> HollowNet:
    torch.manual_seed(0)
    return HollowNet(d, conditioner=AttentionConditioner(d, 4, query_sees_x)).double()


@pytest.mark.parametrize("conditioner", ["sum", "masked"])
@pytest.mark.parametrize("d", [1, 2, 5, 16])
def test_built_in_conditioners_are_exactly_hollow(conditioner, d):
    net = HollowNet(d, conditioner=conditioner, width=8, time=True, context_features=2)
    report = check_hollow(net, torch.randn(3, 2, d))
    assert report.hollow and bool(report)
    assert report.max_leak == 0.0 and report.leaking == []
    assert report.points == 6
    assert str(report).startswith("hollow: max_i |∂h_i/∂x_i| = 0")


def test_attention_whose_query_carries_x_i_is_caught():
    net = _attention_net(6, query_sees_x=True)
    report = check_hollow(net)
    assert not report.hollow and not bool(report)
    assert report.leaking == list(range(6))
    assert report.max_leak > 1e-3
    assert "NOT hollow" in str(report) and "must not read x_i" in str(report)
    x = torch.randn(4, 6, dtype=torch.float64)  # and this is why it matters:
    assert not torch.allclose(hp.divergence(net, x), hp.divergence(net, x, method="autograd"))


def test_attention_with_positional_query_and_masked_self_is_hollow():
    net = _attention_net(6, query_sees_x=False)
    assert check_hollow(net).max_leak == 0.0
    x = torch.randn(4, 6, dtype=torch.float64)
    assert torch.allclose(hp.divergence(net, x), hp.divergence(net, x, method="autograd"), atol=1e-12)


def test_a_single_leaking_dimension_is_located():
    net = HollowNet(5, conditioner="masked", width=3).double()
    net.conditioner.mask[2 * 3:3 * 3, 2] = 1.0  # block 2 now sees x_2
    report = check_hollow(net.bind())
    assert report.leaking == [2]
    assert report.leaks[2] == report.max_leak > 0
    assert "i in [2]" in str(report)


def test_tolerance_and_errors():
    net = _attention_net(3, query_sees_x=True)
    assert check_hollow(net, tol=1e6).hollow
    with pytest.raises(ValueError, match=r"check_hollow\(model\): expected x\[\.\.\., 3\]"):
        check_hollow(net, torch.randn(2, 4, dtype=torch.float64))
    with pytest.raises(TypeError, match="expected a hodphys.nn.HollowNet"):
        check_hollow(nn.Linear(3, 3))
