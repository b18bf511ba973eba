"""What bench.tta_ensemble and bench.unknown share: tf_efficientnet_lite0 at bench.quality's image size, and the
pooled features a folder's images give at the final level and at the default earlier level (what Auto's first
candidate, "both", fits its classifiers on)."""

from __future__ import annotations

from pathlib import Path


class BothLevels:
    """The model read once; ``features(folder)``: its labelled images' PooledFeatures (final and earlier level)."""

    def __init__(self, quick: bool) -> None:
        from core.models.accel import configure_threads
        from core.models.network import default_cut_index
        from core.models.preprocess import preprocessing_for
        from core.models.weights import create_backbone
        configure_threads()
        self.model = create_backbone("tf_efficientnet_lite0").model
        self.pp = preprocessing_for(self.model, 32 if quick else 128)
        self.cut = default_cut_index(self.model)

    def features(self, folder: Path):
        from core.data.dataset import scan_dataset
        from core.methods.pooled_features import extract, labelled_items
        return extract(self.model, labelled_items(scan_dataset(folder)), self.pp, levels=[self.cut])
