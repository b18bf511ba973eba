"""Are a model's pretrained weights on this computer? Answered without importing torch where possible."""

from pathlib import Path

from core.base.paths import weights_cache_dir
from core.models import lite_weights

BUNDLED, CACHED, DOWNLOAD = "bundled", "cached", "download"


def converted_weights_file(model_name: str) -> Path:
    """Where TransferLab keeps a model's weights as safetensors (converted or downloaded once)."""
    return weights_cache_dir() / f"{model_name}.safetensors"


def hub_cached_file(model_name: str) -> Path | None:
    """The model's weights in the Hugging Face cache, if an earlier download put them there (imports timm)."""
    import timm
    cfg = timm.models.get_pretrained_cfg(model_name)
    repo = getattr(cfg, "hf_hub_id", None) if cfg else None
    if not repo:
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    for filename in ("model.safetensors", "pytorch_model.bin"):
        found = try_to_load_from_cache(repo, filename)
        if isinstance(found, str):
            return Path(found)
    return None


def offline_status(model_name: str, check_hub: bool = True) -> str:
    """'bundled', 'cached' or 'download' (needs internet the first time).

    ``check_hub=False`` skips the Hugging Face cache (which needs timm, hence torch): quick enough
    for the window's first paint; a hub-cached model then shows as 'download' until checked."""
    if lite_weights.bundled_weights_file(model_name) is not None:
        return BUNDLED
    if converted_weights_file(model_name).is_file() or (check_hub and hub_cached_file(model_name)):
        return CACHED
    return DOWNLOAD
