"""Pretrained weights: offline lite models are really ImageNet-trained; unsafe files are refused."""

import pickle

import pytest
import timm
import torch
from PIL import Image
from safetensors.torch import save_file

from core.base.errors import WeightsError
from core.models.lite_weights import LITE_PACKAGES, bundled_weights_file
from core.models.preprocess import eval_transform, preprocessing_for
from core.models.weights import create_backbone, hub_reachable, read_state_dict
from core.models.weights_status import offline_status

skimage_data = pytest.importorskip("skimage.data")

CATS = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE = {967, 968}  # espresso, cup


def top5(model, array) -> set[int]:
    model.eval()
    x = eval_transform(preprocessing_for(model))(Image.fromarray(array)).unsqueeze(0)
    with torch.inference_mode():
        return set(model(x).topk(5).indices[0].tolist())


def test_offline_lite0_recognises_a_real_cat_and_coffee():
    loaded = create_backbone("tf_efficientnet_lite0")
    assert loaded.pretrained and "bundled" in loaded.source
    assert top5(loaded.model, skimage_data.chelsea()) & CATS
    assert top5(loaded.model, skimage_data.coffee()) & COFFEE


@pytest.mark.parametrize("name", ["tf_efficientnet_lite1", "tf_efficientnet_lite2"])
def test_other_bundled_lite_models_are_pretrained(name):
    assert offline_status(name) == "bundled"
    assert top5(create_backbone(name).model, skimage_data.chelsea()) & CATS


def test_lite_preprocessing_matches_timm_config():
    pp = preprocessing_for(timm.create_model("tf_efficientnet_lite0"))
    assert pp.mean == (0.5, 0.5, 0.5) and pp.std == (0.5, 0.5, 0.5)
    assert pp.interpolation == "bicubic" and pp.input_size == 224


def test_conversion_is_cached_as_safetensors(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFERLAB_CACHE_DIR", str(tmp_path))
    create_backbone("tf_efficientnet_lite0")
    assert (tmp_path / "weights" / "tf_efficientnet_lite0.safetensors").is_file()
    assert set(LITE_PACKAGES) >= {"tf_efficientnet_lite0"} and bundled_weights_file("resnet18") is None



def test_a_kept_backbone_is_handed_out_as_a_fresh_copy_and_leaves_the_random_state_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFERLAB_CACHE_DIR", str(tmp_path))
    create_backbone("tf_efficientnet_lite0")  # converted and kept
    torch.manual_seed(3)
    before = torch.get_rng_state()
    first = create_backbone("tf_efficientnet_lite0").model
    assert torch.equal(torch.get_rng_state(), before)
    with torch.no_grad():
        first.conv_stem.weight.zero_()  # a run changing its copy
    second = create_backbone("tf_efficientnet_lite0").model
    assert second is not first and second.conv_stem.weight.abs().sum() > 0
    assert top5(second, skimage_data.chelsea()) & CATS
    (tmp_path / "weights" / "tf_efficientnet_lite0.safetensors").unlink()  # another file: read again
    assert torch.equal(create_backbone("tf_efficientnet_lite0").model.conv_stem.weight, second.conv_stem.weight)


def test_the_kept_backbone_serves_the_same_file_reached_through_another_path(tmp_path, monkeypatch):
    from core.models import weights
    monkeypatch.setenv("TRANSFERLAB_CACHE_DIR", str(tmp_path / "one"))
    create_backbone("tf_efficientnet_lite0")  # converted and kept
    (tmp_path / "two").mkdir()
    (tmp_path / "two" / "weights").symlink_to(tmp_path / "one" / "weights", target_is_directory=True)
    monkeypatch.setenv("TRANSFERLAB_CACHE_DIR", str(tmp_path / "two"))
    reads = []
    monkeypatch.setattr(weights, "read_state_dict", lambda path: reads.append(path))  # reading it again would fail
    assert top5(create_backbone("tf_efficientnet_lite0").model, skimage_data.chelsea()) & CATS
    assert reads == []

def test_imported_safetensors_file_is_used(tmp_path):
    source = timm.create_model("test_efficientnet", pretrained=False)
    torch.nn.init.constant_(source.conv_stem.weight, 0.125)
    path = tmp_path / "mine.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    loaded = create_backbone("test_efficientnet", weights_file=path)
    assert "mine.safetensors" in loaded.source
    assert torch.all(loaded.model.conv_stem.weight == 0.125)


def test_imported_torch_state_dict_with_other_head_size(tmp_path):
    source = timm.create_model("test_efficientnet", pretrained=False, num_classes=7)
    path = tmp_path / "colleague.pth"
    torch.save({"state_dict": source.state_dict()}, path)
    loaded = create_backbone("test_efficientnet", weights_file=path)
    assert torch.equal(loaded.model.conv_stem.weight, source.conv_stem.weight)


def test_weights_for_another_architecture_are_refused(tmp_path):
    path = tmp_path / "resnet.safetensors"
    save_file({k: v.contiguous() for k, v in timm.create_model("test_resnet").state_dict().items()}, str(path))
    with pytest.raises(WeightsError, match="does not fit"):
        create_backbone("test_efficientnet", weights_file=path)


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_pickle_that_runs_code_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"conv_stem.weight": _Exploit(marker)}, f)
    with pytest.raises(WeightsError, match="Refused"):
        read_state_dict(path)
    assert not marker.exists()


def test_unknown_model_name_is_a_clear_error():
    with pytest.raises(WeightsError, match="Unknown model"):
        create_backbone("no_such_model_xyz")


def test_offline_hub_download_fails_fast_with_a_clear_message():
    if hub_reachable(timeout=2):
        pytest.skip("this machine is online")
    assert offline_status("resnet18") == "download"
    with pytest.raises(WeightsError, match="internet"):
        create_backbone("resnet18")
