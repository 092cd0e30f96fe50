"""Specification of the zip copy: unchanged parts keep their packed bytes, changed parts are
deflated in their place, new ones go at the end, and zipfile reads the result back exactly.

The guard, `zipparts.check`, is specified through `read_workbook` in test_workbook.py.
"""

import io
import struct
import zipfile

from digitnet import zipparts

PARTS = {"a.xml": b"<a/>" * 100, "b.bin": bytes(range(256)) * 4, "c.xml": b"<c>text</c>" * 50}
UNIX_TIME = struct.pack("<HHBL", 0x5455, 5, 1, 946_684_800)  # an extended timestamp field


class Stream(io.BytesIO):
    """A file zipfile cannot seek in, so that it writes each part's sizes after its data."""

    def seekable(self):
        return False

    def seek(self, *args):
        raise io.UnsupportedOperation("seek")

    def tell(self):
        raise io.UnsupportedOperation("tell")


def write_mixed(path):
    """PARTS packed three ways: stored, bzip2 and deflated, the last with an extra field."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.xml", PARTS["a.xml"], zipfile.ZIP_STORED)
        archive.writestr("b.bin", PARTS["b.bin"], zipfile.ZIP_BZIP2)
        info = zipfile.ZipInfo("c.xml", date_time=(2024, 2, 29, 13, 45, 58))
        info.extra = UNIX_TIME
        archive.writestr(info, PARTS["c.xml"], zipfile.ZIP_DEFLATED)


def copied(source, target, changed):
    with zipparts.opened(source) as archive:
        zipparts.copy(archive, target, changed)
    with zipfile.ZipFile(target) as archive:
        assert archive.testzip() is None
        return archive.infolist(), {name: archive.read(name) for name in archive.namelist()}


def test_copy_puts_changed_parts_in_place_and_new_ones_at_the_end(tmp_path):
    write_mixed(tmp_path / "in.zip")
    changed = {"b.bin": b"<b/>", "d.xml": b"<d/>"}
    infos, contents = copied(tmp_path / "in.zip", tmp_path / "out.zip", changed)
    assert [info.filename for info in infos] == ["a.xml", "b.bin", "c.xml", "d.xml"]
    assert contents == PARTS | changed
    assert [info.compress_type for info in infos] == [0, 8, 8, 8]  # stored, then deflated


def test_copy_keeps_the_packed_bytes_date_and_extra_field_of_unchanged_parts(tmp_path):
    write_mixed(tmp_path / "in.zip")
    infos, _ = copied(tmp_path / "in.zip", tmp_path / "out.zip", {"a.xml": b"<a/>"})
    with zipfile.ZipFile(tmp_path / "in.zip") as archive:
        originals = archive.infolist()
    kept = ("compress_type", "compress_size", "CRC", "date_time", "extra")
    for before, after in zip(originals[1:], infos[1:], strict=True):
        assert [getattr(after, key) for key in kept] == [getattr(before, key) for key in kept]
    assert infos[2].extra == UNIX_TIME and infos[1].compress_type == zipfile.ZIP_BZIP2


def test_copy_dates_new_parts_2000_so_that_copies_are_byte_identical(tmp_path):
    write_mixed(tmp_path / "in.zip")
    first, _ = copied(tmp_path / "in.zip", tmp_path / "first.zip", {"d.xml": b"<d/>"})
    copied(tmp_path / "in.zip", tmp_path / "second.zip", {"d.xml": b"<d/>"})
    assert first[-1].date_time == (2000, 1, 1, 0, 0, 0)
    assert (tmp_path / "first.zip").read_bytes() == (tmp_path / "second.zip").read_bytes()


def test_copy_of_a_streamed_zip_puts_the_sizes_in_the_headers(tmp_path):
    stream = Stream()
    with zipfile.ZipFile(stream, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in PARTS.items():
            archive.writestr(name, content)
    (tmp_path / "in.zip").write_bytes(stream.getvalue())
    with zipfile.ZipFile(tmp_path / "in.zip") as archive:
        assert all(info.flag_bits & 0x08 for info in archive.infolist())
    infos, contents = copied(tmp_path / "in.zip", tmp_path / "out.zip", {})
    assert contents == PARTS
    assert [info.flag_bits & 0x08 for info in infos] == [0, 0, 0]
    data = (tmp_path / "out.zip").read_bytes()
    for info in infos:  # the local header's crc and sizes, which a streaming reader relies on
        header = zipparts.LOCAL_HEADER.unpack_from(data, info.header_offset)
        assert header[7:10] == (info.CRC, info.compress_size, info.file_size)


def test_copy_keeps_a_name_beyond_ascii_marked_as_utf8(tmp_path):
    with zipfile.ZipFile(tmp_path / "in.zip", "w") as archive:
        archive.writestr("xl/média/çà.xml", b"<x/>")
    infos, contents = copied(tmp_path / "in.zip", tmp_path / "out.zip", {"new/é.xml": b"<y/>"})
    assert contents == {"xl/média/çà.xml": b"<x/>", "new/é.xml": b"<y/>"}
    assert all(info.flag_bits & zipparts.UTF8_NAME for info in infos)
