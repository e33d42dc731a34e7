"""dl-grader: sandboxed, tamper-proof grading of deep-learning assignments."""

__version__ = "0.1.0"


def load_ipython_extension(ipython) -> None:
    """`%load_ext grader` in a notebook: adds `%check <assignment> [question]` (grader.jupyter)."""
    from grader.jupyter import load_ipython_extension as load

    load(ipython)
