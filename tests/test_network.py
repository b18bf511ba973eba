"""Layer groups, freeze depth, BatchNorm handling and discriminative learning rates on real timm models."""

import pytest
import timm
import torch
from torch import nn

from core.base.errors import TransferLabError
from core.models.network import (TransferNet, apply_freeze_depth, default_cut_index, layer_groups,
                                 optimizer_param_groups, set_train_mode)


def net(name="test_efficientnet", classes=3, cut=None):
    return TransferNet(timm.create_model(name, pretrained=False), classes, cut)


@pytest.mark.parametrize("name", ["tf_efficientnet_lite0", "mobilenetv3_large_100", "resnet18", "convnext_tiny",
                                  "vit_small_patch16_224", "efficientnet_b0", "resnet50"])
def test_every_catalog_model_classifies_and_its_head_fits_its_features(name):
    """mobilenetv3_large_100's head adds a layer: 1,280 pooled numbers after 960 channels (num_features)."""
    model = TransferNet(timm.create_model(name, pretrained=False), 3).eval()
    x = torch.randn(2, 3, *model.backbone.pretrained_cfg["input_size"][1:])
    with torch.no_grad():
        assert model(x).shape == (2, 3) and model.features(x).shape[1] == model.head.in_features


@pytest.mark.parametrize("name", ["tf_efficientnet_lite0", "mobilenetv3_large_100", "resnet18", "convnext_tiny",
                                  "vit_small_patch16_224", "efficientnet_b0", "resnet50"])
def test_catalog_models_have_named_groups_covering_every_backbone_weight(name):
    model = TransferNet(timm.create_model(name, pretrained=False), 4)
    groups = layer_groups(model)
    assert len(groups) >= 4
    grouped = [n for g in groups for n in g.param_names]
    assert sorted(grouped) == sorted(n for n, _ in model.backbone.named_parameters())
    assert all(g.name and g.num_params > 0 for g in groups)


def test_group_names_are_readable():
    names = [g.name for g in layer_groups(net("resnet18"))]
    assert names == ["conv1 + bn1", "layer1", "layer2", "layer3", "layer4"]


def test_freeze_depth_counts_groups_from_the_head():
    model = net()
    groups = layer_groups(model)
    head = sum(p.numel() for p in model.head.parameters())
    for depth in range(len(groups) + 1):
        summary = apply_freeze_depth(model, depth)
        expected = head + sum(g.num_params for g in groups[len(groups) - depth:])
        assert summary.trainable_params == expected
        trained = {n for n, p in model.backbone.named_parameters() if p.requires_grad}
        assert trained == {n for g in groups[len(groups) - depth:] for n in g.param_names}
    with pytest.raises(TransferLabError, match="between 0"):
        apply_freeze_depth(model, len(groups) + 1)


def test_frozen_batchnorm_keeps_running_stats_and_weights():
    model = net()
    apply_freeze_depth(model, 1)
    frozen_bn = model.backbone.bn1
    before_mean = frozen_bn.running_mean.clone()
    before_w = model.backbone.conv_stem.weight.clone()
    set_train_mode(model)
    assert not frozen_bn.training and model.head.training
    opt = torch.optim.AdamW(optimizer_param_groups(model, 1e-2, 1e-3, 0.0))
    for _ in range(3):
        loss = nn.functional.cross_entropy(model(torch.randn(4, 3, 32, 32) * 3 + 1), torch.tensor([0, 1, 2, 0]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert torch.equal(frozen_bn.running_mean, before_mean)
    assert torch.equal(model.backbone.conv_stem.weight, before_w)


def test_head_only_runs_the_whole_backbone_in_eval_mode():
    model = net()
    apply_freeze_depth(model, 0)
    set_train_mode(model)
    assert not model.backbone.training and model.head.training


def test_optimizer_holds_only_trainable_params_with_lower_backbone_lr():
    model = net()
    apply_freeze_depth(model, 2)
    groups = optimizer_param_groups(model, 1e-3, 1e-4, 0.0)
    ids = {id(p) for g in groups for p in g["params"]}
    assert ids == {id(p) for p in model.parameters() if p.requires_grad}
    lrs = {g["name"]: g["lr"] for g in groups}
    assert lrs["backbone"] < lrs["head"]
    apply_freeze_depth(model, 0)
    assert [g["name"] for g in optimizer_param_groups(model, 1e-3, 1e-4, 0.0)] == ["head"]


def test_truncated_network_uses_an_earlier_level_and_drops_later_blocks():
    full = net()
    cut = default_cut_index(full.backbone)
    short = net(cut=cut)
    assert cut is not None and 0 <= cut < len(full.backbone.feature_info) - 1
    assert sum(p.numel() for p in short.parameters()) < sum(p.numel() for p in full.parameters())
    x = torch.randn(2, 3, 64, 64)
    assert short(x).shape == (2, 3)
    assert short.features(x).shape[1] == short.head.in_features


def test_vit_can_be_truncated_too():
    model = TransferNet(timm.create_model("test_vit", pretrained=False), 2, 2)
    assert model(torch.randn(1, 3, 160, 160)).shape == (1, 2)
