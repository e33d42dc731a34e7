"""JUnit XML for CI: one testsuite per question, one testcase per test.

ElementTree escapes every text and attribute; before that, one pass over the finished tree
replaces the characters XML 1.0 cannot hold at all.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from grader.results import GradeResult


def to_junit(result: GradeResult) -> bytes:
    """Render the result as JUnit XML (failures carry the reason, system-out the captured output)."""
    suites = ET.Element("testsuites", name=f"{result.assignment}:{result.submission}",
                        tests=str(len(result.tests)), time=f"{result.execution_time:.3f}",
                        failures=str(sum(t.status != "passed" for t in result.tests)))
    if result.problem:  # nothing could be graded: one error that says why, not a suite of zeros
        suite = ET.SubElement(suites, "testsuite", name="submission", tests="1", failures="0", errors="1",
                              skipped="0", time=f"{result.execution_time:.3f}")
        case = ET.SubElement(suite, "testcase", classname=result.assignment, name="the submission", time="0")
        ET.SubElement(case, "error", message=result.problem.splitlines()[0][:300]).text = result.problem
        suites.set("tests", "1")
        suites.set("failures", "1")
        return _finish(suites)
    for question in result.questions:
        mine = [t for t in result.tests if t.question == question.id]
        suite = ET.SubElement(suites, "testsuite", name=question.id, tests=str(len(mine)),
                              failures=str(sum(t.status in ("failed", "error") for t in mine)),
                              skipped=str(sum(t.status == "skipped" for t in mine) + question.pending),
                              time=f"{sum(t.duration for t in mine):.3f}")
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="points", value=f"{question.earned:g}/{question.possible:g}")
        for test in mine:
            case = ET.SubElement(suite, "testcase", classname=f"{result.assignment}.{question.id}", name=test.name,
                                 time=f"{test.duration:.3f}")
            if test.status in ("failed", "error"):
                summary = test.message.splitlines()[0][:300] if test.message else test.status
                kind = "error" if test.status == "error" else "failure"
                ET.SubElement(case, kind, message=summary).text = test.message
            elif test.status == "skipped":
                ET.SubElement(case, "skipped", message=test.message[:300])
            if test.output:
                ET.SubElement(case, "system-out").text = test.output
        if question.pending:
            case = ET.SubElement(suite, "testcase", classname=f"{result.assignment}.{question.id}", name="manual grading")
            ET.SubElement(case, "skipped", message="graded by hand; pending")
    return _finish(suites)


def _finish(suites: ET.Element) -> bytes:
    _xml_safe(suites)
    ET.indent(suites)
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True)


_NOT_XML = re.compile(r"[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_safe(root: ET.Element) -> None:
    """Replace, in every text and attribute under root, the characters XML 1.0 cannot hold."""
    for element in root.iter():
        element.text = element.text and _NOT_XML.sub("\ufffd", element.text)
        element.attrib.update((key, _NOT_XML.sub("\ufffd", value)) for key, value in element.attrib.items())
