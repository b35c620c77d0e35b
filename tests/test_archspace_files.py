"""Atomic writes (`archspace.files`): the old file or the new one, never half."""

from __future__ import annotations

import json

import pytest

from archspace.files import replacing, write_json, write_text


def test_a_write_replaces_the_file_and_leaves_nothing_beside_it(tmp_path) -> None:
    path = tmp_path / "deep" / "a.json"
    write_json(path, {"b": (1, 2)}, indent=1)
    write_json(path, {"a": 1})
    assert json.loads(path.read_text()) == {"a": 1}
    assert path.read_text() == '{\n  "a": 1\n}\n'
    assert [p.name for p in path.parent.iterdir()] == ["a.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path) -> None:
    path = tmp_path / "a.txt"
    write_text(path, "old")
    with pytest.raises(RuntimeError), replacing(path) as handle:
        handle.write("half")
        raise RuntimeError("killed mid-write")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_keep_previous_moves_the_old_file_aside(tmp_path) -> None:
    path = tmp_path / "ck.pt"
    for data in (b"first", b"second"):
        with replacing(path, "wb", durable=True, keep_previous=True) as handle:
            handle.write(data)
    assert path.read_bytes() == b"second"
    assert (tmp_path / "ck.pt.prev").read_bytes() == b"first"
