"""Layer groups in words a domain expert reads without a glossary (the module names go in tooltips).

A network's groups run from the input (early: generic edges, colours and textures) to the output
(late: features specific to ImageNet's objects); where a group sits is what matters for transfer.
"""

from __future__ import annotations


def feature_level(index: int, count: int) -> str:
    """"early", "mid-level" or "late" features for group ``index`` (0-based, 0 = nearest the input)."""
    position = (index + 0.5) / max(1, count)
    return "early" if position < 1 / 3 else "mid-level" if position < 2 / 3 else "late"


LEVEL_EXAMPLES = {"early": "edges, colours", "mid-level": "textures, parts", "late": "whole objects"}


def group_title(index: int, count: int) -> str:
    """E.g. "Layer group 5 of 8 (mid-level features: textures, parts)"."""
    level = feature_level(index, count)
    return f"Layer group {index + 1} of {count} ({level} features: {LEVEL_EXAMPLES[level]})"
