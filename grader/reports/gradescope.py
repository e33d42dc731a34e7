"""Gradescope's results.json: score, tests (name, score, max_score, output, visibility, status), execution_time.

Every output and name is declared plain text ("output_format", "test_output_format" and
"test_name_format" set to "text"), so Gradescope never renders a student's message as HTML,
Markdown or ANSI.
"""

from __future__ import annotations

from grader.results import GradeResult


def to_gradescope(result: GradeResult) -> dict:
    """Build the results.json document; hidden tests held back (spec: hidden_tests: after_release) are shown
    only after grades are published."""
    tests = [
        {
            "name": test.name,
            "number": str(index),
            "score": test.earned,
            "max_score": test.points,
            "status": "passed" if test.status == "passed" else "failed",
            "output": "\n".join(filter(None, [test.message, test.timing and f"Timing: {test.timing}",
                                               *(f"Figure: {f['title']} (in the feedback page)" for f in test.figures),
                                               test.output and f"Output:\n{test.output}"])),
            "visibility": "after_published" if test.visibility == "hidden" else "visible",  # as Gradescope expects hidden tests
            "tags": [test.question],
        }
        for index, test in enumerate(result.tests, start=1)
    ]
    for question in result.questions:
        if question.manual and question.graded:
            tests.append({"name": f"{question.id}: {question.title} (graded by a TA)", "score": question.earned,
                          "max_score": question.possible, "visibility": "visible", "tags": [question.id],
                          "output": "\n".join(["Rubric items given:", *question.awarded, question.comment])})
        elif question.manual:
            tests.append({  # no score and no status: not a failed test worth 0, a question not graded yet
                "name": f"{question.id}: {question.title} ({question.possible:g} points, graded by a TA)",
                "visibility": "visible", "tags": [question.id],
                "output": "\n".join(["Pending: a TA grades this question.", *question.rubric,
                                      *([f"Your answer:\n{question.answer}"] if question.answer else [])])})
    if result.problem:  # nothing could be graded: one clear message, not a list of zeros
        tests = []
    notes = [f"Not graded: {result.problem}" if result.problem else _summary(result),
             *(["The hidden tests' results appear when grades are published."] if result.hidden_held_back else []),
             *([f"Late policy: {result.late.status}, {result.late_penalty:g} points off ({result.late.reason})."]
               if result.late else []),
             *(f"While loading: {e}" for e in result.shown_load_errors()), f"Isolation: {result.isolation}.", *result.warnings]
    timed = {} if result.shown_execution_time() is None else {"execution_time": result.shown_execution_time()}
    return {
        "score": result.final_score,
        **timed,
        "output": "\n".join(notes),
        "output_format": "text",
        "test_output_format": "text",
        "test_name_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def _summary(result: GradeResult) -> str:
    """How the score is made: the tests' points, the cap that limits their sum, the points a TA adds later."""
    parts = [f"Score {result.capped_score:g} of {result.max_score:g}: the tests earned {result.score:g} of "
             f"{result.autograded_possible:g} points"]
    if result.score_cap is not None and result.score_cap < result.total_possible:
        parts.append(f"the assignment has {result.total_possible:g} points and full marks at {result.score_cap:g}, "
                     "so the score is their sum up to that cap")
    if result.pending:
        parts.append(f"{result.pending:g} points are graded by a TA and added later")
    return "; ".join(parts) + "."
