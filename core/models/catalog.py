"""A curated list of timm models that transfer well, with what a user needs to choose.

Any other timm model name is accepted too; the catalog is the short list the
GUI shows. Parameter counts and ImageNet top-1 are timm's published figures
for the default pretrained tag (approximate, for comparison only); CPU speeds
were measured with bench/model_speed.py on a 2-core x86 machine.
"""

from dataclasses import asdict, dataclass

DEFAULT_MODEL = "tf_efficientnet_lite0"
_DEFAULT_SPEED = 64


@dataclass(frozen=True)
class ModelInfo:
    name: str
    params_m: float  # millions of parameters, ImageNet head included
    input_size: int  # pixels, square
    imagenet_top1: float  # percent
    cpu_images_per_s: int  # inference, batch 8, fp32, 2-core x86 CPU (bench/model_speed.py)
    note: str

    @property
    def relative_cpu_speed(self) -> float:
        """Speed relative to the default model, measured by bench/model_speed.py (higher is faster)."""
        return round(self.cpu_images_per_s / _DEFAULT_SPEED, 2)

    def to_dict(self) -> dict:
        return {**asdict(self), "relative_cpu_speed": self.relative_cpu_speed}


CATALOG: tuple[ModelInfo, ...] = (
    ModelInfo("tf_efficientnet_lite0", 4.7, 224, 74.8, 64, "Small and fast; the default. Weights ship with TransferLab."),
    ModelInfo("tf_efficientnet_lite1", 5.4, 240, 76.6, 49, "A little larger than lite0. Weights ship with TransferLab."),
    ModelInfo("tf_efficientnet_lite2", 6.1, 260, 77.5, 33, "Largest lite model. Weights ship with TransferLab."),
    ModelInfo("mobilenetv3_large_100", 5.5, 224, 75.8, 126, "Very fast on CPU."),
    ModelInfo("efficientnet_b0", 5.3, 224, 77.7, 69, "Accurate for its size."),
    ModelInfo("resnet18", 11.7, 224, 71.5, 65, "Classic, robust baseline."),
    ModelInfo("resnet50", 25.6, 224, 80.4, 26, "Classic, strong; slower on CPU."),
    ModelInfo("convnext_tiny", 28.6, 224, 82.1, 26, "A newer design, strong features; slow on CPU."),
    ModelInfo("vit_small_patch16_224", 22.1, 224, 81.4, 35, "Sees the image as patches; needs 224 px input."),
)


def catalog_entry(name: str) -> ModelInfo | None:
    for info in CATALOG:
        if info.name == name:
            return info
    return None
