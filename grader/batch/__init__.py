"""Grading a whole class: the roster of a class folder, the output folder, and the backends (a local
pool of grading jobs, or Slurm) that grade one submission per unit of work."""

from grader.batch.command import add_arguments, run_command
from grader.batch.roster import is_class_folder

__all__ = ["add_arguments", "is_class_folder", "run_command"]
