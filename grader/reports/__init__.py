"""Renderers of grader.results.GradeResult: terminal table, Gradescope JSON, JUnit XML, gradebook CSV."""
