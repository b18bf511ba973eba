"""A curated list of timm models that transfer well, with what a user needs to choose.

Any other timm model name is accepted too; the catalog is the short list the
GUI shows. Parameter counts and ImageNet top-1 are timm's published figures
for the default pretrained tag (approximate, for comparison only).
"""

from dataclasses import asdict, dataclass

DEFAULT_MODEL = "tf_efficientnet_lite0"


@dataclass(frozen=True)
class ModelInfo:
    name: str
    params_m: float  # millions of parameters, ImageNet head included
    input_size: int  # pixels, square
    imagenet_top1: float  # percent
    note: str

    def to_dict(self) -> dict:
        return asdict(self)


CATALOG: tuple[ModelInfo, ...] = (
    ModelInfo("tf_efficientnet_lite0", 4.7, 224, 74.8, "Small and fast; the default. Weights ship with TransferLab."),
    ModelInfo("tf_efficientnet_lite1", 5.4, 240, 76.6, "A little larger than lite0. Weights ship with TransferLab."),
    ModelInfo("tf_efficientnet_lite2", 6.1, 260, 77.5, "Largest lite model. Weights ship with TransferLab."),
    ModelInfo("mobilenetv3_large_100", 5.5, 224, 75.8, "Very fast on CPU."),
    ModelInfo("efficientnet_b0", 5.3, 224, 77.7, "Accurate for its size."),
    ModelInfo("resnet18", 11.7, 224, 71.5, "Classic, robust baseline."),
    ModelInfo("resnet50", 25.6, 224, 80.4, "Classic, strong; slower on CPU."),
    ModelInfo("convnext_tiny", 28.6, 224, 82.1, "Modern CNN, strong features; slow on CPU."),
    ModelInfo("vit_small_patch16_224", 22.1, 224, 81.4, "Vision transformer; needs 224 px input."),
)


def catalog_entry(name: str) -> ModelInfo | None:
    for info in CATALOG:
        if info.name == name:
            return info
    return None
