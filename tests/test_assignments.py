"""Every assignment proves its tests strong: the reference earns full marks (as a module and
as a notebook), the starter at most 5%, and each mutant loses exactly the questions it names."""

from __future__ import annotations

import pytest

from grader.audit import variants
from grader.runner import grade
from grader.validate import validate

from conftest import ROOT, load

SLUGS = sorted(p.parent.name for p in (ROOT / "assignments").glob("*/assignment.yaml"))
CASES = [(slug, variant) for slug in SLUGS for variant in variants(load(slug))]


@pytest.mark.parametrize("slug", SLUGS)
def test_assignment_is_valid(slug):
    assert validate(load(slug)) == []


@pytest.mark.parametrize(("slug", "variant"), CASES, ids=[f"{s}-{v.name}" for s, v in CASES])
def test_variant_scores_as_expected(slug, variant, tmp_path):
    result = grade(load(slug), variant.write(tmp_path))
    problem = variant.verdict(result)
    details = "\n".join(f"{t.name}: {t.message[:300]}" for t in result.tests if t.status != "passed")
    assert problem is None, f"{problem}\n{details}"


@pytest.mark.parametrize("slug", SLUGS)
def test_each_assignment_has_enough_mutants(slug):
    assert sum(v.expect == "mutant" for v in variants(load(slug))) >= (8 if slug == "backprop" else 6)
