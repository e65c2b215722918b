"""envgen/doctor/FAILURES.md and the doctor's rules cannot drift apart.

Every row of the table names a rule that ``diagnose`` runs and checks that rule can
report; every rule cites, in its docstring, exactly the rows that name it.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import envgen.doctor
from envgen.doctor.rules import RULES

TABLE = Path(envgen.doctor.__file__).parent / "FAILURES.md"


def _rows() -> dict[str, dict[str, set[str]]]:
    rows = {}
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and re.fullmatch(r"F\d+", cells[0]):
            rows[cells[0]] = {
                "checks": set(re.findall(r"`([a-z0-9-]+)`", cells[3])),
                "rules": set(re.findall(r"`(check_\w+)`", cells[4])),
            }
    return rows


def _checks_reported(rule) -> set[str]:
    """The ``check`` names of every Finding the rule's source can build."""
    tree = ast.parse(inspect.getsource(rule).lstrip())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Finding":
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant):
                found.add(first.value)
            elif isinstance(first, ast.JoinedStr):  # f"{name}-source"
                found |= {f"{name}-source" for name in ("numpy", "h5py", "grpcio")}
    return found


def test_the_table_has_rows_and_each_names_a_rule_and_its_checks():
    rows = _rows()
    assert len(rows) >= 15
    by_name = {rule.__name__: rule for rule in RULES}
    for row_id, row in rows.items():
        assert row["rules"], f"{row_id} names no rule"
        assert row["rules"] <= set(by_name), f"{row_id}: {row['rules']}"
        reported = set().union(*(_checks_reported(by_name[r]) for r in row["rules"]))
        unknown = {
            check
            for check in row["checks"]
            if not any(re.fullmatch(pattern, check) for pattern in reported)
        }
        assert row["checks"] and not unknown, (row_id, unknown, reported)


def test_every_rule_cites_exactly_the_rows_that_name_it():
    rows = _rows()
    for rule in RULES:
        doc = inspect.getdoc(rule) or ""
        cited = set(re.findall(r"\bF\d+\b", doc.split("FAILURES.md", 1)[-1]))
        assert "FAILURES.md" in doc, f"{rule.__name__} cites no row"
        naming = {
            row_id for row_id, row in rows.items() if rule.__name__ in row["rules"]
        }
        assert cited == naming, (rule.__name__, cited, naming)
