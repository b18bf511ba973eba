"""A run configured here, started elsewhere: the config file and the exact command for a GPU server or
cluster (torchrun + DistributedDataParallel, see core.training.distributed). Plain JSON, no torch."""

from __future__ import annotations

import shlex
from pathlib import Path

from core.base.atomic import atomic_write_json
from core.training.settings import TrainSettings

CONFIG_FORMAT = "transferlab-run-config"


def write_config(path: Path, data: str | Path | None, settings_dict: dict, **extra) -> dict:
    """Write what ``transferlab train --config FILE`` reads (core.training.distributed.load_config); ``extra``:
    target_images, target_test, domain_weight (None values are left out)."""
    config = {"format": CONFIG_FORMAT, "version": 1, "data": None if data is None else str(data),
              "settings": settings_dict, **{k: v for k, v in extra.items() if v is not None}}
    atomic_write_json(Path(path), config)
    return config


def write_run_config(path: Path, data_root: Path, settings: TrainSettings, target_images: str | None = None,
                     target_test: str | None = None, domain_weight: float | None = None) -> dict:
    """The wizard's run, as a config file: the dataset folder, every setting, the adaptation if any."""
    return write_config(path, data_root, settings.to_dict(), target_images=target_images, target_test=target_test,
                        domain_weight=domain_weight)


def cluster_commands(config: Path, out_dir: str, gpus_per_node: int, nodes: int = 1) -> list[str]:
    """The command lines to start the run: one for a single server, or the one to run on every node."""
    train = ["-m", "core.cli", "train", "--config", str(config), "--out", out_dir, "--distributed"]
    if nodes <= 1:
        return [shlex.join(["torchrun", "--standalone", f"--nproc_per_node={gpus_per_node}", *train])]
    return [shlex.join(["torchrun", f"--nnodes={nodes}", f"--nproc_per_node={gpus_per_node}",
                        "--rdzv_backend=c10d", "--rdzv_endpoint=HOST_OF_NODE_0:29500", *train])]
