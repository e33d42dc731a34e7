"""Which processes used the GPU, seen from outside the sandboxes through NVML.

Freezing a process does not stop the kernels it has already queued on the GPU, so while one
side of a speed check is timed, the grader also asks the driver which processes kept the
GPU's multiprocessors busy. NVML (the `nvidia-ml-py` package, the `gpu` extra) samples each
process's utilisation at the driver's rate and keeps the recent samples with their times, so
a window can be examined after it closed. A sample covers the driver's last sampling period
(1/6 s on most data-centre GPUs), so only samples taken at least `SAMPLE_PERIOD` after a window
opened are counted: an earlier one may show work the process did, legitimately, before it was
frozen. Windows must therefore be longer than that period to be checked at all. Without NVML
or a GPU, `GpuActivity.open()` is None and the timing says that this check was not made.
"""

from __future__ import annotations

import os
import time
from types import SimpleNamespace

SAMPLE_PERIOD = 0.2  # seconds: at least the driver's sampling period for process utilisation


class GpuActivity:
    """Per-process GPU utilisation samples of every device, from NVML."""

    def __init__(self, nvml):
        self.nvml = nvml
        self.handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())]

    @classmethod
    def open(cls, nvml=None) -> GpuActivity | None:
        """Watch every GPU of this machine, or None where NVML or a GPU is absent."""
        try:
            if nvml is None:
                import pynvml as nvml
            nvml.nvmlInit()
            watch = cls(nvml)
        except Exception:  # NVML raises its own error classes, ImportError or OSError where there is no driver
            return None
        return watch if watch.handles else None

    @staticmethod
    def clock() -> int:
        """Now, in NVML's time unit for samples (microseconds since the epoch)."""
        return time.time_ns() // 1000

    def busy(self, pids: set[int], start: int, end: int) -> set[int]:
        """Those of `pids` that the driver saw using a multiprocessor or memory bandwidth between `start` and `end`
        (clock() values), counting only samples that cover no time before `start`."""
        first = start + int(SAMPLE_PERIOD * 1e6)
        found = set()
        for handle in self.handles:
            try:
                samples = self.nvml.nvmlDeviceGetProcessUtilization(handle, start)
            except Exception:  # no sample since `start` (NVML_ERROR_NOT_FOUND) or none available on this device
                continue
            found.update(s.pid for s in samples
                         if s.pid in pids and first <= s.timeStamp <= end and (s.smUtil or s.memUtil))
        return found


class SimulatedNvml:
    """A stand-in for NVML on a machine without a GPU (the grader's own tests): one device on which every
    process of the machine is seen busy (`busy`) or none is."""

    def __init__(self, busy: bool):
        self.busy = busy

    def nvmlInit(self):
        pass

    def nvmlDeviceGetCount(self):
        return 1

    def nvmlDeviceGetHandleByIndex(self, index):
        return index

    def nvmlDeviceGetProcessUtilization(self, handle, since):
        if not self.busy:
            raise LookupError("NVML_ERROR_NOT_FOUND")  # what NVML says when it has no sample since `since`
        at = since + int(SAMPLE_PERIOD * 1e6)  # the first sample that covers only the window
        return [SimpleNamespace(pid=int(pid), timeStamp=at, smUtil=50, memUtil=10)
                for pid in os.listdir("/proc") if pid.isdigit()]
