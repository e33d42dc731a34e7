"""Gradescope's results.json: score, tests (name, score, max_score, output, visibility, status), execution_time.

Every output and name is declared plain text ("output_format", "test_output_format" and
"test_name_format" set to "text"), so Gradescope never renders a student's message as HTML,
Markdown or ANSI.
"""

from __future__ import annotations

from grader.results import GradeResult


def to_gradescope(result: GradeResult) -> dict:
    """Build the results.json document; hidden tests are shown only after grades are published."""
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
            "visibility": "visible" if test.visibility == "public" else "after_published",
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
    cap = result.score_cap
    notes = [*([f"Not graded: {result.problem}"] if result.problem else []),
             *([f"{result.total_possible:g} points, full marks at {cap:g}: the score shown is capped there (the tests "
                f"below add up to {result.autograded_score:g})."] if cap is not None and cap < result.total_possible else []),
             *([f"Late policy: {result.late.status}, {result.late_penalty:g} points off ({result.late.reason})."]
               if result.late else []), f"Isolation: {result.isolation}.",
             *result.warnings, *(f"While loading: {e}" for e in result.load_errors)]
    return {
        "score": result.final_score,
        "execution_time": result.execution_time,
        "output": "\n".join(notes),
        "output_format": "text",
        "test_output_format": "text",
        "test_name_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }
