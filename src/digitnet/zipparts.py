"""The zip under an .xlsx: checked before anything unpacks it, and copied with parts changed.

calamine would unpack a zip bomb in full: it holds a long run of text in one buffer, so a sheet
that unpacks to 3 GB takes 3 GB of memory. So the zip's directory is checked against size limits
first. Its sizes can be trusted for this, since calamine's unzipper stops with an error at a
member's declared size.

zipfile reads the directory and the parts. Two things are done by hand: the end record is read
before zipfile opens the file, because zipfile loads the whole directory at once and a hostile one
can list millions of members; and a copy writes each unchanged part's packed bytes as they are,
which zipfile cannot, so that a large sheet is not unpacked and packed again.
"""

import itertools
import os
import struct
import zipfile
import zlib
from contextlib import contextmanager

from digitnet.errors import WorkbookError

MB = 1 << 20
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # how encrypted .xlsx and old .xls files start
MAX_MEMBERS = 10_000  # files in the zip; a workbook has about 10, plus a few per sheet or image
MAX_DIRECTORY = 10 * MB  # the zip's list of them, about 100 bytes a file in a real workbook
MAX_RATIO = 100  # unpacked / packed size of one member; sheets pack 5 to 15 fold (Apache POI: 100)
RATIO_GRACE = 1 * MB  # a member smaller than this unpacked may pack as tightly as it likes
PROLOG_BYTES = 4096  # how much of each XML member to search for a DTD, which must come first

# The records of the zip format, laid out as zipfile lays them out
END_RECORD = struct.Struct("<4s4H2LH")  # ..., members, directory size and offset, comment length
ZIP64_END_RECORD = struct.Struct("<4sQ2H2L4Q")  # the same figures in 64 bits, before a locator
ZIP64_TAIL = ZIP64_END_RECORD.size + 20  # that record and its 20-byte locator
LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # ..., crc, sizes, name and extra field lengths
DIRECTORY_RECORD = struct.Struct("<4s4B4HL2L5H2L")  # ..., attributes, local header offset
UTF8_NAME = 0x800  # flag: the name is UTF-8, not cp437
SIZES_AFTER_DATA = 0x8  # flag: crc and sizes follow the data, as streaming writers do
ZIP64_EXTRA = 1  # the tag of the extra field that holds ZIP64's figures
DATE_2000 = (2000, 1, 1, 0, 0, 0)  # the date of new parts, so that a copy is reproducible


def check(path, max_file, max_unpacked):
    """Refuse a file that is not a zip or would take too much to unpack, reading only its
    directory and the first few KB of each XML member."""
    _check_file(path, max_file)
    with open(path, "rb") as f:
        directory = _end_record(f)
    if directory is None:
        raise WorkbookError(f"{path} is not an Excel .xlsx workbook (not a zip archive)")
    n_members, directory_size = directory
    # zipfile loads the whole directory at once, so its size is checked first
    if n_members > MAX_MEMBERS or directory_size > MAX_DIRECTORY:
        raise WorkbookError(
            f"{path}: its zip directory lists {n_members} files in {_size(directory_size)}, "
            f"over the limits of {MAX_MEMBERS} files and {_size(MAX_DIRECTORY)} (a workbook has "
            "a few dozen); refusing it as a possible zip bomb"
        )
    with opened(path) as archive:
        _check_sizes(path, archive.infolist(), max_unpacked)
        for info in archive.infolist():
            if info.filename.endswith((".xml", ".rels")):
                _check_prolog(path, archive, info)


@contextmanager
def opened(path):
    """zipfile's view of the workbook at `path`; damage it finds, on opening or later while
    reading a part, is a WorkbookError."""
    try:
        with zipfile.ZipFile(path) as archive:
            yield archive
    # a damaged directory or member, a packing method zipfile lacks, a password-protected zip
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as error:
        raise WorkbookError(f"{path} is not an Excel .xlsx workbook ({error})") from None


def copy(archive, target, changed):
    """Write to `target` the zip `archive` with the parts of `changed` ({name: bytes}) deflated,
    in place of the archive's own or, for new names, at the end. Every other part keeps its
    packed bytes and its place."""
    names = set(archive.namelist())
    with open(archive.filename, "rb") as source:
        kept = (
            _deflated(info.filename, changed[info.filename])
            if info.filename in changed
            else (info, _packed(source, info))
            for info in archive.infolist()
        )
        new = (_deflated(name, content) for name, content in changed.items() if name not in names)
        try:
            _write(target, itertools.chain(kept, new))
        except struct.error:  # a figure too large for its field of the classic zip format
            raise WorkbookError(
                f"{archive.filename} is too large to copy: its parts need ZIP64, "
                "which this copy does not write"
            ) from None


def _deflated(name, content):
    """A new part `name` holding `content`: its ZipInfo and its deflated bytes."""
    info = zipfile.ZipInfo(name, date_time=DATE_2000)
    info.create_system = 0  # as on Windows, whatever this machine is
    info.compress_type = zipfile.ZIP_DEFLATED
    packer = zlib.compressobj(6, zlib.DEFLATED, -15)
    packed = packer.compress(content) + packer.flush()
    info.CRC, info.compress_size, info.file_size = zlib.crc32(content), len(packed), len(content)
    return info, packed


def _write(path, members):
    """Write a zip of `members`, pairs (ZipInfo, packed bytes), in their order: the bytes go in
    as they are, and the ZipInfo gives the rest of each part's local header and record."""
    directory = []
    with open(path, "wb") as out:
        for info, packed in members:
            name, flags = _name(info)
            shared = _shared_fields(info, flags, name)
            directory.append(_record(info, shared, name, out.tell()))
            out.write(LOCAL_HEADER.pack(b"PK\x03\x04", *shared, 0) + name + packed)
        start = out.tell()
        out.write(b"".join(directory))
        n = len(directory)
        out.write(END_RECORD.pack(b"PK\x05\x06", 0, 0, n, n, out.tell() - start, start, 0))


def _shared_fields(info, flags, name):
    """The fields, from version needed to name length, that a part's local header and its
    directory record both hold."""
    time, date = _dos_time(info.date_time)
    sizes = (info.CRC, info.compress_size, info.file_size, len(name))
    return (info.extract_version, info.reserved, flags, info.compress_type, time, date, *sizes)


def _record(info, shared, name, offset):
    """The central directory record of a part whose local header is at `offset`."""
    extra = _without_zip64(info.extra)
    made_by = (info.create_version, info.create_system)
    attributes = (info.internal_attr, info.external_attr)
    fields = (*made_by, *shared, len(extra), len(info.comment), 0, *attributes, offset)
    return DIRECTORY_RECORD.pack(b"PK\x01\x02", *fields) + name + extra + info.comment


def _name(info):
    """The part's name as bytes, and its flags to write: UTF-8 marked as such, and the sizes
    in the header, not after the data."""
    flags = info.flag_bits & ~SIZES_AFTER_DATA
    if info.filename.isascii():
        return info.filename.encode("ascii"), flags
    return info.filename.encode("utf-8"), flags | UTF8_NAME


def _dos_time(date_time):
    """(time, date) as the zip format packs them, to the even second."""
    year, month, day, hour, minute, second = date_time
    return hour << 11 | minute << 5 | second // 2, (year - 1980) << 9 | month << 5 | day


def _without_zip64(extra):
    """An extra field without its ZIP64 block, whose figures the record itself now holds."""
    kept, at = [], 0
    while at + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, at)
        if tag != ZIP64_EXTRA:
            kept.append(extra[at : at + 4 + size])
        at += 4 + size
    return b"".join(kept)


def _packed(source, info):
    """A part's packed bytes, read from behind its local header in the open file `source`."""
    source.seek(info.header_offset)
    header = source.read(LOCAL_HEADER.size)
    if len(header) < LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"Bad magic number for file header of {info.filename}")
    name_length, extra_length = LOCAL_HEADER.unpack(header)[-2:]
    source.seek(name_length + extra_length, os.SEEK_CUR)
    return source.read(info.compress_size)


def _check_file(path, max_file):
    """Refuse a file over `max_file` bytes, and an OLE2 file, which no .xlsx is."""
    size = path.stat().st_size
    if size > max_file:
        raise WorkbookError(
            f"{path} is {_size(size)}, over the limit of {_size(max_file)} (data.max_file_mb); "
            "raise the limit if the workbook is genuine"
        )
    with open(path, "rb") as f:
        if f.read(len(OLE2_MAGIC)) == OLE2_MAGIC:
            raise WorkbookError(
                f"{path} is encrypted or an old .xls file (an OLE2 container, not an .xlsx zip); "
                "save it unencrypted as .xlsx"
            )


def _end_record(f):
    """(number of members, size of the directory in bytes) as the zip's end record states
    them, or None if there is no end record, so not a zip."""
    f.seek(0, os.SEEK_END)
    f.seek(max(0, f.tell() - (1 << 16) - END_RECORD.size - ZIP64_TAIL))  # up to a 64 KB comment
    tail = f.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < END_RECORD.size:
        return None
    *_, n_members, directory_size, _, _ = END_RECORD.unpack_from(tail, at)
    # ZIP64 leaves 0xFFFF... here and puts the figures in its own record, before its locator
    if at >= ZIP64_TAIL and tail[at - ZIP64_TAIL : at - ZIP64_TAIL + 4] == b"PK\x06\x06":
        *_, n_members, directory_size, _ = ZIP64_END_RECORD.unpack_from(tail, at - ZIP64_TAIL)
    return n_members, directory_size


def _check_sizes(path, infos, max_unpacked):
    """Refuse a workbook whose members, at the sizes its directory lists, unpack to too much
    in all, or one of which is packed far more tightly than any sheet."""
    unpacked = sum(info.file_size for info in infos)
    if unpacked > max_unpacked:
        raise WorkbookError(
            f"{path}: the workbook would unpack to {_size(unpacked)}, over the limit of "
            f"{_size(max_unpacked)} (data.max_unpacked_mb); refusing it as a possible zip bomb "
            "(raise the limit if the workbook is genuine)"
        )
    for info in infos:
        if info.file_size > max(RATIO_GRACE, MAX_RATIO * info.compress_size):
            raise WorkbookError(
                f"{path}: {info.filename} would unpack to {_size(info.file_size)} from "
                f"{_size(info.compress_size)}, over {MAX_RATIO} times its packed size (sheets "
                "pack 5 to 15 fold); refusing it as a possible zip bomb"
            )


def _check_prolog(path, archive, info):
    """Refuse an XML member that declares a DTD, the vehicle of entity-expansion bombs.

    calamine's XML parser (quick-xml) does not expand entities: it ignores the declaration and
    drops or rejects each reference, so this check is for a clear message, not the only guard.
    """
    with archive.open(info) as member:
        prolog = member.read(PROLOG_BYTES)
    for marker, what in ((b"<!ENTITY", "XML entities"), (b"<!DOCTYPE", "a document type")):
        if marker in prolog:
            raise WorkbookError(
                f"{path}: {info.filename} declares {what} ({marker.decode()} ...>), which "
                "workbooks never need; refusing it as a possible XML bomb"
            )


def _size(n_bytes):
    """A size in words: 3.0 GB, 200.0 MB, 2.5 KB."""
    for unit, scale in (("GB", 1 << 30), ("MB", MB)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.1f} {unit}"
    return f"{n_bytes / 1024:.1f} KB"
