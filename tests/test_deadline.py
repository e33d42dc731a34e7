"""The deadline on grading work done in the trusted process: it stops the work with a clear reason,
nests without an inner deadline outliving an outer one, leaves no timer behind, and off the main
thread stops work that checks it."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from grader.deadline import TookTooLong, deadline, expire_if_due


def spin():
    while True:
        pass


def test_work_past_its_deadline_stops_with_what_took_too_long():
    started = time.monotonic()
    with pytest.raises(TookTooLong, match=r"^checking a derivation took too long \(over 0.2 s\): stopped$"):
        with deadline(0.2, "checking a derivation"):
            spin()
    assert time.monotonic() - started < 1


def test_an_inner_deadline_never_outlives_the_outer_one():
    with pytest.raises(TookTooLong, match="grading an answer took too long"):
        with deadline(0.2, "grading an answer"):
            with deadline(30, "checking a derivation"):
                spin()


def test_work_in_time_leaves_no_timer_and_the_previous_handler_behind():
    before = signal.getsignal(signal.SIGALRM)
    with deadline(5, "quick work"):
        with deadline(5, "quicker work"):
            sum(range(1000))
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0) and signal.getsignal(signal.SIGALRM) is before


def test_a_timer_set_by_other_code_is_re_armed_with_the_time_it_had_left():
    fired = []
    previous = signal.signal(signal.SIGALRM, lambda *_: fired.append(time.monotonic()))
    try:
        started = time.monotonic()
        signal.setitimer(signal.ITIMER_REAL, 0.5)
        with deadline(5, "quick work"):
            time.sleep(0.1)
        assert 0.2 < signal.getitimer(signal.ITIMER_REAL)[0] <= 0.4
        time.sleep(0.6)
        assert len(fired) == 1 and 0.45 < fired[0] - started < 0.8
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_off_the_main_thread_work_that_checks_the_deadline_stops():
    outcome = []

    def work():
        try:
            with deadline(0.2, "comparing submissions"):
                while True:
                    expire_if_due()
        except TookTooLong as error:
            outcome.append(str(error))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(5)
    assert outcome == ["comparing submissions took too long (over 0.2 s): stopped"]


def test_a_deadline_whose_first_signal_is_swallowed_still_stops_the_work():
    """Python ignores an exception raised in a weakref callback or a __del__: the signal comes again."""
    swallowed, started = 0, time.monotonic()
    with pytest.raises(TookTooLong):
        with deadline(0.1, "the work"):
            while time.monotonic() - started < 5:
                try:
                    time.sleep(0.01)
                except TookTooLong:
                    swallowed += 1
                    if swallowed > 1:
                        raise
    assert swallowed == 2 and time.monotonic() - started < 1
    assert signal.getitimer(signal.ITIMER_REAL)[0] == 0


def test_work_that_ends_past_its_deadline_stops_all_the_same():
    """Its signal caught on the way (here by the work itself), it still took too long: never a late result."""
    with pytest.raises(TookTooLong, match=r"^the work took too long \(over 0.1 s\): stopped$"):
        with deadline(0.1, "the work"):
            started = time.monotonic()
            while time.monotonic() - started < 0.3:
                try:
                    time.sleep(0.01)
                except TookTooLong:
                    pass
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_an_outer_deadline_wins_over_what_an_inner_one_made_of_its_stop():
    """A check that turns its own stop into a verdict, finishing past the outer deadline, is the outer's stop."""
    def checked():
        try:
            with deadline(30, "checking a derivation"):
                spin()
        except TookTooLong as error:
            return f"verdict: {error}"

    with pytest.raises(TookTooLong, match="^grading an answer took too long"):
        with deadline(0.2, "grading an answer"):
            checked()
            try:
                time.sleep(0.01)
            except TookTooLong:
                pass  # the signal that comes again, swallowed (as Python does in a weakref callback)


def test_a_signal_that_comes_as_the_last_deadline_ends_stops_nothing():
    """The timer re-armed for a stop can fire once the stack of deadlines is empty: nothing to stop, no error."""
    from grader.deadline import _expire

    assert _expire(signal.SIGALRM, None) is None


def test_an_inner_deadline_whose_clean_up_was_cut_short_does_not_outlive_the_outer_one():
    before = signal.getsignal(signal.SIGALRM)
    with deadline(0.2, "grading an answer"):
        cut_short = deadline(5, "checking a derivation")
        cut_short.__enter__()  # its exit never runs, as when a signal lands at the start of its clean-up
    try:
        time.sleep(0.3)  # both would have expired by now
        with deadline(2, "the next answer"):
            time.sleep(0.05)  # not stopped by a stale deadline
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, before)
