"""docs/architecture.md names every module of the package (a new module comes with its line there)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_architecture_names_every_module() -> None:
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    modules = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "rag").rglob("*.py"))
    assert modules and [m for m in modules if f"`{m}`" not in doc] == []
