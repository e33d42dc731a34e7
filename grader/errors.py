"""Why a call into a submission failed. Each error fails the test that made the call,
with its message as the reason; none of them escapes the grader."""


class SubmissionError(Exception):
    """Base class: something went wrong on the submission's side of the boundary."""


class StudentException(SubmissionError):
    """The student's code raised an exception (message holds its type, text and traceback)."""


class MissingName(SubmissionError):
    """The submission does not define the name a test asked for."""


class CallTimeout(SubmissionError):
    """A call ran past the per-call wall-clock limit; the worker was replaced."""


class WorkerDied(SubmissionError):
    """The worker process exited or was killed (crash, os._exit, out of memory)."""


class BudgetExhausted(SubmissionError):
    """The submission's total time budget is spent; remaining calls fail at once."""


class LoadFailed(SubmissionError):
    """The submission could not be loaded at all (invalid notebook, syntax error, ...)."""


class BadValue(SubmissionError):
    """The submission returned or sent something that is not plain data."""


class ForbiddenApi(SubmissionError):
    """The submission uses a module the assignment forbids."""


class ReferenceMissing(Exception):
    """A test asked for the reference solution where there is none (a student's copy of the assignment)."""
