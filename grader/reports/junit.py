"""JUnit XML for CI: one testsuite per question, one testcase per test."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from grader.results import GradeResult


def to_junit(result: GradeResult) -> bytes:
    """Render the result as JUnit XML (failures carry the reason, system-out the captured output)."""
    suites = ET.Element("testsuites", name=f"{result.assignment}:{result.submission}",
                        tests=str(len(result.tests)), time=f"{result.execution_time:.3f}",
                        failures=str(sum(t.status != "passed" for t in result.tests)))
    for question in result.questions:
        mine = [t for t in result.tests if t.question == question.id]
        suite = ET.SubElement(suites, "testsuite", name=question.id, tests=str(len(mine)),
                              failures=str(sum(t.status in ("failed", "error") for t in mine)),
                              skipped=str(sum(t.status == "skipped" for t in mine) + question.manual),
                              time=f"{sum(t.duration for t in mine):.3f}")
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="points", value=f"{question.earned:g}/{question.possible:g}")
        for test in mine:
            case = ET.SubElement(suite, "testcase", classname=f"{result.assignment}.{question.id}", name=test.name,
                                 time=f"{test.duration:.3f}")
            if test.status in ("failed", "error"):
                message = _xml(test.message)
                ET.SubElement(case, test.status if test.status == "error" else "failure",
                              message=message.splitlines()[0][:300] if message else test.status).text = message
            elif test.status == "skipped":
                ET.SubElement(case, "skipped", message=_xml(test.message)[:300])
            if test.output:
                ET.SubElement(case, "system-out").text = _xml(test.output)
        if question.manual:
            case = ET.SubElement(suite, "testcase", classname=f"{result.assignment}.{question.id}", name="manual grading")
            ET.SubElement(case, "skipped", message="graded by hand; pending")
    ET.indent(suites)
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True)


def _xml(text: str) -> str:
    """Replace the characters XML 1.0 cannot hold (control codes from a student's output, say)."""
    return re.sub(r"[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]", "\ufffd", text)
