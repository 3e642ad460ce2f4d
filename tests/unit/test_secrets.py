"""Generated secrets: private file, stable values, safe to pass to command-line tools."""

from __future__ import annotations

from pathlib import Path

from lakehouse import secrets


def test_generated_values_never_look_like_a_flag(tmp_path: Path) -> None:
    # with 64 URL-safe characters, about 1 in 64 random tokens starts with '-'; 300 files of
    # about 17 secrets each would almost surely produce one without the guard
    for n in range(300):
        values = secrets.ensure(tmp_path / f"s{n}.env", passwords=["TRINO_X_PASSWORD"])
        assert not [k for k, v in values.items() if v.startswith("-")]


def test_file_is_private_and_values_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "secrets.env"
    first = secrets.ensure(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert secrets.ensure(path, passwords=["TRINO_NEW_PASSWORD"]).items() >= first.items()
