"""dl-grader: sandboxed, tamper-proof grading of deep-learning assignments."""

__version__ = "0.1.0"
