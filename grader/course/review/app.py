"""The review web app (Flask): one manual question at a time, student after student, graded by rubric.

It listens on 127.0.0.1 only, and every request must carry the random token in its path (the URL
printed once at start); any other request gets 403, as does one whose Host is not this machine's
loopback name (a page elsewhere cannot reach it by DNS rebinding). Pages are rendered through the
project's one escaping path (grader.reports.html) and served with a strict Content-Security-Policy:
the page's only script is review.js, served by the app; nothing is fetched from anywhere else.
Students are shown in an order fixed by a hash of their names, as "Student 17", until a TA asks for
names. Every change goes to the store (store.py) at once.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from importlib import resources
from pathlib import Path

from grader.answers import answer_state, placeholders
from grader.course.grades import read_grades
from grader.course.review.store import Store
from grader.reports.html import environment, stylesheet
from grader.reports.feedback import paper_rows
from grader.spec import Assignment, Question

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; form-action 'none'; "
       "base-uri 'none'; frame-ancestors 'none'")
MAX_COMMENT = 20_000


class ReviewError(Exception):
    """The review cannot start (no manual question, no results); the message says what is missing."""


class Review:
    """What the pages show: the manual questions, the students who answered each, their results, the store."""

    def __init__(self, assignment: Assignment, folder: Path):
        self.assignment = assignment
        self.questions = {q.id: q for q in assignment.questions if q.manual}
        if not self.questions:
            raise ReviewError(f"{assignment.slug} has no manual question: nothing to review")
        self.results = read_grades(folder).results
        if not self.results:
            raise ReviewError(f"{folder}: no results to review (grade the class with `grader grade --out {folder}`)")
        graded_as = sorted({result.assignment for result in self.results.values()})
        if assignment.slug not in graded_as:
            raise ReviewError(f"{folder} holds results of {', '.join(graded_as)}, not of {assignment.slug}: "
                              f"run `grader review {graded_as[0]} {folder}`")
        order = sorted(self.results, key=lambda s: hashlib.sha256(s.encode()).hexdigest())  # not alphabetical
        self.students = {qid: [s for s in order if any(q.id == qid for q in self.results[s].questions)]
                         for qid in self.questions}
        if not any(self.students.values()):
            raise ReviewError(f"{folder}: no result has an answer to {', '.join(self.questions)} (graded before "
                              f"{assignment.slug} had them?): grade the class again with `grader grade --regrade`")
        self.placeholders = placeholders(assignment.starters, tuple(self.questions))
        self.store = Store(folder)
        self.changes = {qid: self.store.rubric_changes(q) for qid, q in self.questions.items()}

    def student(self, qid: str, number: int) -> str | None:
        students = self.students.get(qid, [])
        return students[number] if 0 <= number < len(students) else None

    def progress(self, qid: str) -> tuple[int, int]:
        """(answers graded, answers) for the question."""
        graded = self.store.grades(qid)
        students = self.students[qid]
        return sum(graded.get(s) is not None and graded[s].graded for s in students), len(students)

    def state(self, qid: str, student: str) -> dict:
        """The grade of one answer as the page's script reads it after a change."""
        question = self.questions[qid]
        grade = self.store.grades_of(student).get(qid)
        done, total = self.progress(qid)
        score = grade.score(question) if grade else 0.0
        return {"given": sorted(grade.given) if grade else [], "graded": bool(grade and grade.graded),
                "score": score, "progress": f"{done} of {total} graded",
                "empty_given": score > 0 and not self.answered(qid, student)}

    def answered(self, qid: str, student: str) -> bool:
        """Whether the student wrote an answer: some text, other than the starter's placeholder."""
        answer = next(q for q in self.results[student].questions if q.id == qid).answer
        return answer_state(answer, self.placeholders.get(qid, set())) == "answered"


def create_app(review: Review, token: str, ta: str = ""):
    """The Flask app serving `review` under /<token>/; the changes it saves are signed `ta`."""
    from flask import Flask, abort, jsonify, redirect, request

    app = Flask(__name__, static_folder=None)
    base = f"/{token}"

    @app.before_request
    def guard():
        if not hmac.compare_digest(request.path.split("/")[1].encode(), token.encode()):
            abort(403)
        if request.host.rsplit(":", 1)[0] not in ("127.0.0.1", "localhost"):
            abort(403)

    @app.after_request
    def headers(response):
        response.headers.update({"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                                 "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
                                 "X-Frame-Options": "DENY"})
        return response

    @app.get(f"{base}/")
    def start():
        qid = next(iter(review.questions))
        graded = review.store.grades(qid)
        students = review.students[qid]
        first = next((n for n, s in enumerate(students) if not (s in graded and graded[s].graded)), 0)
        return redirect(f"{base}/q/{qid}/{first}")

    @app.get(f"{base}/q/<qid>/<int:number>")
    def page(qid: str, number: int):
        student = review.student(qid, number)
        if student is None:
            abort(404)
        return _page(review, base, qid, number, student, names=request.args.get("names") == "1")

    @app.get(f"{base}/q/<qid>/<int:number>/code")
    def code(qid: str, number: int):
        student = review.student(qid, number)
        if student is None:
            abort(404)
        return _code_page(review, base, qid, number, student, names=request.args.get("names") == "1")

    @app.errorhandler(404)
    def not_found(_):
        known = ", ".join(f"{base}/q/{qid}/0" for qid in review.questions)
        return f"Not found: no such question or student here. The questions: {known}", 404, {
            "Content-Type": "text/plain; charset=utf-8"}

    @app.post(f"{base}/api/<action>")
    def change(action: str):
        data = request.get_json(silent=True)
        if not isinstance(data, dict) or data.get("question") not in review.questions:
            abort(400)
        qid = data["question"]
        number = data.get("student")
        student = review.student(qid, number if isinstance(number, int) and not isinstance(number, bool) else -1)
        if student is None:
            abort(400)
        if action == "mark" and data.get("item") in {i.id for i in review.questions[qid].rubric}:
            review.store.set_mark(student, qid, data["item"], bool(data.get("given")), ta)
        elif action == "comment" and isinstance(data.get("text"), str) and len(data["text"]) <= MAX_COMMENT:
            review.store.set_comment(student, qid, data["text"], ta)
        elif action == "graded":
            review.store.set_graded(student, qid, ta)
        else:
            abort(400)
        return jsonify(review.state(qid, student))

    @app.get(f"{base}/static/report.css")
    def css():
        return str(stylesheet()), 200, {"Content-Type": "text/css; charset=utf-8"}

    @app.get(f"{base}/static/review.js")
    def script():
        code = resources.files("grader.course.review").joinpath("review.js").read_text(encoding="utf-8")
        return code, 200, {"Content-Type": "text/javascript; charset=utf-8"}

    return app


def _page(review: Review, base: str, qid: str, number: int, student: str, names: bool) -> str:
    question: Question = review.questions[qid]
    result = review.results[student]
    grade = review.store.grades_of(student).get(qid)
    answer = next(q for q in result.questions if q.id == qid)
    total = len(review.students[qid])
    done, _ = review.progress(qid)
    suffix = "?names=1" if names else ""
    link = lambda n: f"{base}/q/{qid}/{n}{suffix}" if 0 <= n < total else ""  # noqa: E731
    score = grade.score(question) if grade else 0.0
    answered = review.answered(qid, student)
    return environment().get_template("review.html").render(
        assignment=review.assignment, question=question, questions=list(review.questions.values()),
        answer=answer.answer, result=result, grade=grade, given=grade.given if grade else set(),
        score=score, number=number, total=total, done=done, answered=answered, empty_given=score > 0 and not answered,
        code_link=f"{base}/q/{qid}/{number}/code{suffix}" if result.code else "",
        label=student if names else f"Student {number + 1}", names=names, changes=review.changes[qid],
        base=base, previous=link(number - 1), next=link(number + 1),
        names_link=f"{base}/q/{qid}/{number}" + ("" if names else "?names=1"), suffix=suffix,
        paper=paper_rows(result, released=True))


def _code_page(review: Review, base: str, qid: str, number: int, student: str, names: bool) -> str:
    """The code the student's result keeps, as the feedback page shows it: where the answer was not found."""
    from grader.notebook import Cell
    from grader.reports.feedback import code_cell
    result = review.results[student]
    anonymous = lambda n, label: label if names or label.startswith("cell ") else f"file {n}"  # noqa: E731
    cells = [code_cell(n, Cell(label=anonymous(n, c["label"]), source=c["source"]))  # a file may bear a name
             for n, c in enumerate(result.code, start=1)]
    suffix = "?names=1" if names else ""
    return environment().get_template("review_code.html").render(
        question=review.questions[qid], cells=cells, label=student if names else f"Student {number + 1}",
        back=f"{base}/q/{qid}/{number}{suffix}", base=base)


def new_token() -> str:
    return secrets.token_urlsafe(24)


def serve(app, port: int = 0):
    """A threaded server for `app` on 127.0.0.1 (`port` 0: a free one); call serve_forever() on it.

    Requests are not logged: each URL holds the token, which is printed once.
    """
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    return make_server("127.0.0.1", port, app, threaded=True)
