"""Write-then-rename: a write that fails half-way leaves the old file and nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from spml.atomic import atomic_path


def test_a_write_that_fails_after_opening_leaves_the_old_file_and_no_stray_file(
    tmp_path: Path,
) -> None:
    target = tmp_path / "results.md"
    target.write_text("the earlier results")
    with pytest.raises(OSError, match="disk full"), atomic_path(target) as temporary:
        temporary.write_text("half of the new")
        raise OSError("disk full")
    assert target.read_text() == "the earlier results"
    assert [p.name for p in tmp_path.iterdir()] == ["results.md"]


def test_a_write_that_succeeds_replaces_the_file_only_at_the_end(tmp_path: Path) -> None:
    target = tmp_path / "reports" / "results.md"  # the folder does not exist yet
    with atomic_path(target) as temporary:
        assert temporary.parent == target.parent and temporary != target
        temporary.write_text("new")
        assert not target.exists()
    assert target.read_text() == "new"
    assert [p.name for p in target.parent.iterdir()] == ["results.md"]
