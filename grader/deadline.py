"""A time limit on grading work the trusted process does on a student's data (checking a derivation,
grading an answer, comparing submissions), so that a hostile input costs one question its points,
"took too long", and never the rest of the grading.

    with deadline(5, "checking the derivation"):
        verdict = check(steps, goal)

In the main thread the limit interrupts the work (a real-time interval timer, as pytest-timeout's
signal method does); elsewhere, where Python delivers no signals, the work is not interrupted but
code that loops may call `expire_if_due()` between pieces of work to stop there. Work that ends past
its deadline (its signal caught on the way) stops with TookTooLong all the same. Deadlines nest:
the inner one never outlives the outer one. While a deadline runs it owns SIGALRM and the real-time
timer; a timer that other code had set is re-armed on the way out with the time it had left (at
once if that time has passed), and its handler restored.
"""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager


class TookTooLong(Exception):
    """Grading work ran past its deadline; the message says what and how long it was allowed."""


_local = threading.local()  # .ends: this thread's deadlines, (monotonic end, what, seconds allowed), innermost last


def _deadlines() -> list[tuple[float, str, float]]:
    if not hasattr(_local, "ends"):
        _local.ends = []
    return _local.ends


@contextmanager
def deadline(seconds: float, what: str):
    """Run the block for at most `seconds`; past them it stops with TookTooLong("<what> took too long ...")."""
    start, _ends = time.monotonic(), _deadlines()
    end, depth = start + seconds, len(_ends)
    if _ends and _ends[-1][0] < end:  # an outer deadline comes first: it stays the one that fires
        end, what, seconds = _ends[-1]
    _ends.append((end, what, seconds))
    timed = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGALRM, _expire) if timed else None
    other = signal.getitimer(signal.ITIMER_REAL)[0] if timed and not depth else 0.0  # someone else's timer
    try:
        if timed:
            signal.setitimer(signal.ITIMER_REAL, max(end - time.monotonic(), 1e-3))
        yield
        if time.monotonic() >= end:  # it ended past its deadline, the signal caught on the way (by an inner
            _expire()                # deadline's handler, a weakref callback): it took too long all the same
    finally:
        del _ends[depth:]  # this one, and any inner one whose clean-up a signal cut short
        if timed:
            later = _ends[-1][0] - time.monotonic() if _ends else other - (time.monotonic() - start) if other else 0
            signal.setitimer(signal.ITIMER_REAL, max(later, 1e-3) if _ends or other else 0)
            signal.signal(signal.SIGALRM, previous)


def expire_if_due() -> None:
    """Stop with TookTooLong if the innermost deadline has passed (for work outside the main thread)."""
    _ends = _deadlines()
    if _ends and time.monotonic() >= _ends[-1][0]:
        _expire()


def _expire(*signal_frame) -> None:
    if not _deadlines():
        return  # the signal came as the last deadline ended: there is nothing left to stop
    _, what, seconds = _deadlines()[-1]
    if signal_frame:  # the signal may land where Python swallows exceptions (a weakref callback, a __del__):
        signal.setitimer(signal.ITIMER_REAL, AGAIN)  # then it comes again until the work stops
    raise TookTooLong(f"{what} took too long (over {seconds:g} s): stopped")


AGAIN = 0.05  # seconds before an expired deadline's signal comes again
