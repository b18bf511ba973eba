"""The training settings in words for the Freeze step: what the chosen methods do, what a freeze depth
means for the chosen strategy, what an augmentation preset costs. No torch here (the window shows them)."""

from __future__ import annotations

from core.data.augmentation import FEATURE_VIEWS, PRESETS
from core.training.settings import STRATEGY_TITLES, TrainSettings


def methods_words(s: TrainSettings, adaptation=None) -> list[str]:
    """What the run does beyond its layers and learning rates (``adaptation``: core.methods.adaptation)."""
    parts = []
    if s.classifier_fit == "converged":
        parts.append("the classifier is fitted once, until it stops improving, on the features of your images; how "
                     "strongly it is kept from memorising them is tested on parts of the training images: there "
                     "are no epochs, learning rate or batch size to set")
    if s.with_level is not None:
        parts.append("the classifier sees the model's final features and an earlier layer's side by side (one "
                     "pass over your images gives both)")
    if s.two_stage:
        parts.append(f"two-stage: {s.head_epochs} epoch(s) classifier only, then fine-tuning" +
                     (", unfreezing gradually" if s.gradual_unfreeze else ""))
    if s.l2sp_alpha > 0:
        parts.append(f"L2-SP keeps trained layers near their pretrained values (α = {s.l2sp_alpha:g})")
    if adaptation is not None:
        parts.append(adaptation.describe())
    return parts


def depth_notes(s: TrainSettings, depth: int, kept: int | None, groups: int) -> list[str]:
    """What ``depth`` trained groups mean for the strategy (``kept``: groups below a cut, when known)."""
    notes = []
    if s.strategy == "truncated":
        where = (f"an earlier layer (after layer group {kept} of {groups}, where features are still generic)"
                 if kept is not None else "an earlier layer, where features are still generic")
        notes.append(f"Strategy “{STRATEGY_TITLES['truncated']}”: the network is cut at {where}; the layer groups "
                     "above the cut are not used at all, so only the groups below it can be trained.")
    if s.strategy in ("feature-extraction", "truncated") and depth > 0:
        notes.append(f"Hint: with {depth} group{'s' if depth != 1 else ''} trained this is no longer pure "
                     "feature extraction: those pretrained layers are fine-tuned too (with the "
                     "pretrained-layer learning rate). With few images, keep this low.")
    elif s.strategy in ("fine-tune-top", "fine-tune-all") and depth == 0:
        notes.append("Hint: with no pretrained layer trained, only the new classifier learns: this is "
                     "feature extraction.")
    return notes


def augmentation_words(s: TrainSettings, num_groups: int | None = None) -> str:
    """What the preset does, and what it costs with this freeze depth (core.training.engines caches what it can),
    of a network of ``num_groups`` layer groups (when known)."""
    text = PRESETS[s.augmentation].description if s.augmentation in PRESETS else ""
    if s.classifier_fit == "converged" and s.augmentation == "none":  # no epochs to speak of (methods_words)
        text = "No augmentation: the classifier learns from each image's centre crop, once."
    if s.freeze_depth == 0:
        text += (" The frozen network runs once per image; training then takes seconds." if s.augmentation == "none"
                 else " With a frozen network each augmented view costs one more pass over your images "
                      f"(up to {FEATURE_VIEWS} views are computed once and reused).")
    elif s.augmentation == "none" and num_groups is not None and s.freeze_depth >= num_groups:
        text += " Every layer is trained, so each epoch passes every image through the whole network."
    elif s.augmentation == "none":
        text += " The frozen lower layers run once per image where the model allows; each epoch trains the top."
    return text


def precision_words(plan: str) -> str:
    """A compute plan's description (core.models.accel.ComputePlan.describe: "bf16, channels-last", with the
    trainer's " for fine-tuning steps; …" after it) in plain words, the short names kept in brackets."""
    plan, staged, _ = plan.partition(" for fine-tuning steps")
    words = []
    for part in (p.strip() for p in plan.split(",") if p.strip()):
        if part in ("bf16", "fp16"):
            words.append(f"quicker, slightly rounded arithmetic where that is safe ({part})")
        elif part == "fp32":
            words.append("full-accuracy arithmetic (fp32)")
        elif part == "channels-last":
            words.append("images kept in memory in the order this processor reads fastest (channels-last)")
        else:
            words.append(part)
    text = "; ".join(words)
    if staged:
        text += " while fine-tuning; full-accuracy arithmetic (fp32) for features, validation and predictions"
    return text
