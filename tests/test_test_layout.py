from __future__ import annotations

from collections import Counter


def test_test_module_basenames_are_unique(project_root):
    # pytest's default (rootdir) import mode imports test modules by basename: two files of the
    # same name in different folders stop the whole run at collection.
    names = Counter(p.name for p in (project_root / "tests").rglob("test_*.py"))
    assert [name for name, count in names.items() if count > 1] == []
