"""clone_module is a deep copy: the same network in new memory, sharing nothing with the original."""

import copy

import pytest
import timm
import torch
from torch import nn

from core.models.clone import clone_module


def _assert_deep_copy(original: nn.Module, clone: nn.Module) -> None:
    assert type(clone) is type(original) and clone is not original
    a, b = original.state_dict(keep_vars=True), clone.state_dict(keep_vars=True)
    assert list(a) == list(b)
    for name in a:
        assert torch.equal(a[name], b[name]), name
        assert a[name].data_ptr() != b[name].data_ptr(), f"{name} shares memory"
        assert a[name].requires_grad == b[name].requires_grad and type(a[name]) is type(b[name])
    assert [n for n, _ in original.named_modules()] == [n for n, _ in clone.named_modules()]
    assert [m.training for m in original.modules()] == [m.training for m in clone.modules()]


@pytest.mark.parametrize("name", ["test_efficientnet", "test_vit", "resnet18"])
def test_a_clone_computes_what_the_original_does_and_shares_nothing(name):
    torch.manual_seed(0)
    original = timm.create_model(name, pretrained=False).eval()
    clone = clone_module(original)
    _assert_deep_copy(original, clone)
    x = torch.randn(2, 3, *original.pretrained_cfg["input_size"][1:])
    with torch.no_grad():
        assert torch.equal(original(x), clone(x))
        next(clone.parameters()).add_(1.0)  # changing the clone leaves the original alone
        assert not torch.equal(next(original.parameters()), next(clone.parameters()))
    clone.pretrained_cfg["mean"] = (0, 0, 0)  # attributes are copied too, not shared
    assert original.pretrained_cfg["mean"] != (0, 0, 0)
    clone.reset_classifier(0)
    assert original.get_classifier().out_features == 1000


def test_a_clone_keeps_tied_weights_and_hooks_and_drops_gradients_like_deepcopy():
    net = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4))
    net[2].weight = net[0].weight  # tied
    net.train(False)
    net[1].train(True)
    calls = []
    net[0].register_forward_hook(lambda module, args, out: calls.append(module))
    net(torch.randn(3, 4)).sum().backward()
    clone = clone_module(net)
    reference = copy.deepcopy(net)
    assert clone[2].weight is clone[0].weight and clone[0].weight is not net[0].weight
    assert net[0].weight.grad is not None and clone[0].weight.grad is None and reference[0].weight.grad is None
    assert [m.training for m in clone.modules()] == [m.training for m in reference.modules()]
    calls.clear()
    clone(torch.randn(1, 4))
    assert len(calls) == 1 and calls[0] is clone[0]  # the hook copied as deepcopy copies it (not its closure)


def test_a_parametrized_module_is_cloned():
    from torch.nn.utils.parametrizations import weight_norm
    layer = weight_norm(nn.Linear(5, 3))
    clone = clone_module(layer)
    _assert_deep_copy(layer, clone)
    x = torch.randn(2, 5)
    assert torch.allclose(layer(x), clone(x))
    with torch.no_grad():
        clone.parametrizations.weight.original0.mul_(2)
    assert not torch.allclose(layer(x), clone(x))


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")
def test_scripted_modules_go_through_deepcopy():
    scripted = torch.jit.script(nn.Linear(3, 2))
    clone = clone_module(scripted)
    x = torch.randn(1, 3)
    assert torch.equal(scripted(x), clone(x)) and clone.weight.data_ptr() != scripted.weight.data_ptr()
