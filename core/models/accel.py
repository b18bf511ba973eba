"""How to run a network fast on a device: memory format, mixed precision, threads.

A :class:`ComputePlan` is chosen once per run from the device (and the user's precision choice):

* CPU: channels-last; bf16 autocast only where the CPU computes bf16 natively (AVX512-BF16 or
  AMX). Elsewhere bf16 is emulated and many times *slower* than fp32 (0.9 vs 10 images/s for
  EfficientNet-Lite0 training on an AVX2-only EPYC), so fp32 is kept.
* CUDA: channels-last, bf16 autocast where the GPU supports it, else fp16 with a gradient scaler;
  pinned host memory and non-blocking copies; cuDNN picks the fastest kernels.
* MPS: plain fp32 (autocast and channels-last are not reliably faster there).

``plain`` plans (fp32, NCHW) are the reference the optimised paths are tested against.

The precision rule: mixed precision is used only for the training steps that update backbone
layers (fine-tuning), where it buys throughput. Every number a user sees or the saved model is
applied to is computed in full fp32 (:attr:`ComputePlan.evaluation`, TF32 off on CUDA): cached
features, validation, calibration, prediction, Grad-CAM and the export check. So what the app
shows equals what an exported fp32 file computes, on every CPU and GPU.
"""

from __future__ import annotations

import contextlib
import os
import platform
from dataclasses import dataclass, replace
from pathlib import Path

import torch

BF16_ENV = "TRANSFERLAB_CPU_BF16"  # "1"/"0" overrides the CPU bf16 detection


@dataclass(frozen=True)
class ComputePlan:
    device: torch.device
    channels_last: bool = False
    autocast_dtype: torch.dtype | None = None  # None: fp32
    grad_scaler: bool = False  # fp16 on CUDA needs loss scaling
    pin_memory: bool = False
    exact_fp32: bool = False  # fp32 without TF32 shortcuts on CUDA (see `evaluation`)

    @property
    def precision(self) -> str:
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.autocast_dtype]

    @property
    def evaluation(self) -> ComputePlan:
        """This plan in full fp32: the same device and memory format, no autocast, no TF32."""
        return replace(self, autocast_dtype=None, grad_scaler=False, exact_fp32=True)

    def autocast(self):
        if self.autocast_dtype is not None:
            return torch.autocast(self.device.type, dtype=self.autocast_dtype)
        if self.exact_fp32 and self.device.type == "cuda":
            return _no_tf32()
        return contextlib.nullcontext()

    def prepare_module(self, module: torch.nn.Module) -> torch.nn.Module:
        module.to(self.device)
        if self.channels_last:
            module.to(memory_format=torch.channels_last)
        return module

    def to_device(self, x: torch.Tensor) -> torch.Tensor:
        """Move a batch to the device, in the plan's memory format (4-D image batches only)."""
        if self.pin_memory and x.device.type == "cpu":
            x = x.pin_memory()
        x = x.to(self.device, non_blocking=self.pin_memory)
        if self.channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def make_grad_scaler(self):
        return torch.amp.GradScaler(self.device.type) if self.grad_scaler else None

    def describe(self) -> str:
        parts = [self.precision]
        if self.channels_last:
            parts.append("channels-last")
        return ", ".join(parts)


@contextlib.contextmanager
def _no_tf32():
    """cuDNN convolutions default to TF32 on Ampere and newer (10-bit mantissa): off while evaluating."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def plain_plan(device: torch.device) -> ComputePlan:
    """The reference path: fp32, NCHW, nothing clever."""
    return ComputePlan(torch.device(device))


def cpu_has_native_bf16() -> bool:
    """True where the CPU computes bf16 in hardware (x86 AVX512-BF16 / AMX)."""
    forced = os.environ.get(BF16_ENV)
    if forced in ("0", "1"):
        return forced == "1"
    capability = ""
    with contextlib.suppress(Exception):
        capability = str(torch.backends.cpu.get_cpu_capability()).upper()
    if "BF16" in capability or "AMX" in capability:
        return True
    cpuinfo = Path("/proc/cpuinfo")
    if platform.system() == "Linux" and cpuinfo.is_file():
        with contextlib.suppress(OSError):
            flags = next((line for line in cpuinfo.read_text().splitlines() if line.startswith("flags")), "")
            return " avx512_bf16" in flags or " amx_bf16" in flags
    return False


def plan_for(device: torch.device, precision: str = "auto") -> ComputePlan:
    """The fastest reliable plan for ``device``; ``precision='fp32'`` turns mixed precision off."""
    device = torch.device(device)
    mixed = precision == "auto"
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        if not mixed:
            return ComputePlan(device, channels_last=True, pin_memory=True)
        if torch.cuda.is_bf16_supported():
            return ComputePlan(device, channels_last=True, autocast_dtype=torch.bfloat16, pin_memory=True)
        return ComputePlan(device, channels_last=True, autocast_dtype=torch.float16, grad_scaler=True,
                           pin_memory=True)
    if device.type == "mps":
        return ComputePlan(device)
    bf16 = torch.bfloat16 if mixed and cpu_has_native_bf16() else None
    return ComputePlan(device, channels_last=True, autocast_dtype=bf16)


def usable_cpu_count() -> int:
    """CPUs this process may run on (respects affinity masks and container limits where visible)."""
    with contextlib.suppress(AttributeError, OSError):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def configure_threads() -> int:
    """At most one compute thread per usable CPU. torch starts one per physical core, which can
    be more than a container or an affinity mask grants (then threads fight over CPUs)."""
    allowed = usable_cpu_count()
    if torch.get_num_threads() > allowed:
        torch.set_num_threads(allowed)
    return torch.get_num_threads()


@contextlib.contextmanager
def one_thread():
    """The probe's matrices are small: one thread beats two, by far on a busy CPU (threads that
    wait for each other spin). Process-wide while it runs; restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
