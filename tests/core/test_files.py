"""Result files are replaced whole or not at all."""

import pytest

from fieldnotes.files import atomic_text, write_csv


def test_write_csv_writes_header_and_rows(tmp_path):
    path = tmp_path / "out.csv"
    assert write_csv(path, ["a", "b"], [{"a": 1, "b": "x,y"}, {"a": 2, "b": "z", "extra": 0}]) == 2
    assert path.read_text(encoding="utf-8").splitlines() == ["a,b", '1,"x,y"', "2,z"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "out.csv"
    path.write_text("old\n", encoding="utf-8")
    with pytest.raises(RuntimeError), atomic_text(path) as handle:
        handle.write("half")
        raise RuntimeError("crash while writing")
    assert path.read_text(encoding="utf-8") == "old\n"
    assert list(tmp_path.iterdir()) == [path]


def test_two_writers_of_one_file_never_share_a_temporary(tmp_path):
    path = tmp_path / "out.csv"
    with atomic_text(path) as first:
        first.write("first\n")
        with atomic_text(path) as second:  # another run writing the same result file meanwhile
            second.write("second\n")
        assert path.read_text(encoding="utf-8") == "second\n"
    assert path.read_text(encoding="utf-8") == "first\n"
    assert list(tmp_path.iterdir()) == [path]
