"""The GPU side of a speed check's idle test: which processes the driver saw busy, read through NVML."""

from __future__ import annotations

import importlib.util
from types import SimpleNamespace

from grader.gpu_activity import SAMPLE_PERIOD, GpuActivity

PERIOD = int(SAMPLE_PERIOD * 1e6)


class FakeNvml:
    """NVML's calls as pynvml exposes them, over a fixed list of samples per device."""

    def __init__(self, *devices):
        self.devices = devices

    def nvmlInit(self):
        pass

    def nvmlDeviceGetCount(self):
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index):
        return index

    def nvmlDeviceGetProcessUtilization(self, handle, since):
        samples = [s for s in self.devices[handle] if s.timeStamp > since]
        if not samples:
            raise RuntimeError("NVML_ERROR_NOT_FOUND")
        return samples


def sample(pid, at, sm=0, mem=0):
    return SimpleNamespace(pid=pid, timeStamp=at, smUtil=sm, memUtil=mem)


def test_a_frozen_process_seen_busy_inside_the_window_is_reported_on_any_device():
    start, end = 10_000_000, 10_000_000 + 3 * PERIOD
    nvml = FakeNvml([sample(7, start + PERIOD + 1, sm=0), sample(8, start + 2 * PERIOD, sm=40)],
                    [sample(9, start + 2 * PERIOD, mem=3)])
    watch = GpuActivity.open(nvml)
    assert watch.busy({7, 8, 9}, start, end) == {8, 9}
    assert watch.busy({7}, start, end) == set(), "a sample with no utilisation is idle"
    assert watch.busy({1, 2}, start, end) == set(), "other processes are not the frozen side's"


def test_samples_that_may_cover_time_before_the_window_or_after_it_do_not_count():
    start, end = 10_000_000, 10_000_000 + 3 * PERIOD
    nvml = FakeNvml([sample(8, start + PERIOD // 2, sm=90), sample(8, end + 1, sm=90)])
    assert GpuActivity.open(nvml).busy({8}, start, end) == set()


def test_no_nvml_or_no_gpu_means_no_watch():
    broken = SimpleNamespace(nvmlInit=lambda: (_ for _ in ()).throw(OSError("no driver")))
    assert GpuActivity.open(broken) is None
    assert GpuActivity.open(FakeNvml()) is None
    if importlib.util.find_spec("pynvml") is None:
        assert GpuActivity.open() is None


def test_the_frozen_sides_processes_are_named_while_it_is_frozen(sides):
    submission = sides("import os\nchild = os.fork()\nif child == 0:\n    import time; time.sleep(60)\n"
                       "def ready():\n    return True\n")
    assert submission.ready()
    with submission._side.frozen() as stillness:
        assert len(stillness.pids) >= 2, "the worker and the process it forked"
