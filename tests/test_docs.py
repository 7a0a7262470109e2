"""The ODD document (docs/ODD.md) must agree with the code: the generated parameter table, every parameter name,
every submodel id and every indicator name."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from s3sim.config.parameters import ODD_TABLE_BEGIN, ODD_TABLE_END, PARAMETERS
from s3sim.indicators import INDICATORS

ROOT = Path(__file__).resolve().parents[1]
ODD = ROOT / "docs" / "ODD.md"
MODEL_DIR = ROOT / "src" / "s3sim" / "model"
REGENERATE = "run `python -m s3sim.config.parameters docs/ODD.md` to regenerate the parameter table"


@pytest.fixture(scope="module")
def odd_text() -> str:
    assert ODD.is_file(), f"{ODD} is missing"
    return ODD.read_text(encoding="utf-8")


def _submodel_ids() -> dict[str, set[str]]:
    """Submodel ids (``S<number>``) named on the first line of each model module docstring that starts with one."""
    out: dict[str, set[str]] = {}
    for path in sorted(MODEL_DIR.glob("*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
        if doc and re.match(r"S\d+\b", doc):
            out[path.name] = set(re.findall(r"\bS\d+\b", doc.splitlines()[0]))
    return out


def test_parameter_table_markers_appear_once(odd_text):
    assert odd_text.count(ODD_TABLE_BEGIN) == 1, f"docs/ODD.md needs exactly one line {ODD_TABLE_BEGIN!r}"
    assert odd_text.count(ODD_TABLE_END) == 1, f"docs/ODD.md needs exactly one line {ODD_TABLE_END!r}"
    assert odd_text.index(ODD_TABLE_BEGIN) < odd_text.index(ODD_TABLE_END)


def test_parameter_table_matches_registry(odd_text):
    start = odd_text.index(ODD_TABLE_BEGIN) + len(ODD_TABLE_BEGIN)
    end = odd_text.index(ODD_TABLE_END)
    in_docs = odd_text[start:end].strip()
    generated = PARAMETERS.markdown_table().strip()
    assert in_docs == generated, f"the parameter table in docs/ODD.md is out of date: {REGENERATE}"


def test_every_parameter_is_named(odd_text):
    missing = [name for name in PARAMETERS if not re.search(rf"\b{re.escape(name)}\b", odd_text)]
    assert not missing, f"parameters not mentioned in docs/ODD.md: {missing} ({REGENERATE})"


def test_every_submodel_module_is_described(odd_text):
    ids = _submodel_ids()
    assert ids, "no model module docstring starts with a submodel id (S<number>)"
    missing = {name: sorted(s for s in found if not re.search(rf"\b{s}\b", odd_text))
               for name, found in ids.items()}
    missing = {name: found for name, found in missing.items() if found}
    assert not missing, f"submodel ids not mentioned in docs/ODD.md (module: ids): {missing}"


def test_every_indicator_is_documented(odd_text):
    missing = [ind.name for ind in INDICATORS if not re.search(rf"\b{re.escape(ind.name)}\b", odd_text)]
    assert not missing, f"indicators not described in docs/ODD.md: {missing}"
