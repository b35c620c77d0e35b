"""Atomic writes (`archspace.files`): the old file or the new one, never half."""

from __future__ import annotations

import json

import pytest

from archspace.files import copy_folder, folders_holding, replacing, write_json, write_text


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


def test_a_folder_copy_is_whole_or_absent_and_never_found_half_made(tmp_path) -> None:
    source = tmp_path / "a" / "run"
    write_json(source / "done.json", {"ok": True})
    write_json(source / "sub" / "x.json", [1])
    half = tmp_path / "b" / ".run.partial"  # a copy cut short before
    write_json(half / "done.json", {"ok": False})
    assert list(folders_holding("done.json", [tmp_path])) == [source]
    copy_folder(source, tmp_path / "b" / "run")
    assert not half.exists()
    assert json.loads((tmp_path / "b" / "run" / "sub" / "x.json").read_text()) == [1]
    assert list(folders_holding("done.json", [tmp_path / "b"])) == [tmp_path / "b" / "run"]
