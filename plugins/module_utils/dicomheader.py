# -*- coding: utf-8 -*-
# Copyright (c) 2026 pacsgate.listener maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Read the attributes pypx files an instance by, and check that a received file is complete.

pydicom reads a file element by element through a file object (a system call for every
``tell()``), about 0.5 ms for a small CT image even with ``stop_before_pixels`` and
``specific_tags``. The filer reads each received file into memory once anyway (to copy and hash
it), so this module walks the element headers in those bytes (about 30 µs) and hands pydicom the
raw elements pypx asks for: pydicom still decodes every value (character sets, person names,
numbers), exactly as when it reads the file, because the Dataset it builds holds the same
RawDataElements its own reader would. Anything this header walker does not handle with certainty
(big endian or deflated transfer syntaxes, a file without a preamble, explicit VRs it does not
know, a header longer than the bytes given) is left to pydicom's reader (``stop_before_pixels``
and the same tags): the result is the same, only slower.

``completeness()`` walks every element to the end of the file (``read_complete()`` does both in
one walk): storescp writes each instance completely before it answers the C-STORE, so only the
file being received when the association ended can be cut short, inside an element, and pydicom
reads such a file without complaint. It reads every transfer syntax storescp's ``+xa`` accepts:
implicit and explicit VR little endian, explicit VR big endian, deflated data sets (inflated with
zlib, then walked), and undefined-length UN elements (sequences in implicit VR little endian).
What it still cannot tell (no preamble, an explicit VR it does not know, an undefined-length UN
element in a big endian data set, a deflate stream that does not inflate) raises Unsupported with
the reason: the filer quarantines such a file rather than file what it cannot check.

Standard library only at import time; pydicom is imported by the functions that need it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import struct
import zlib

# The attributes pypx.listen reads to file an instance (Listen.processPatient, processStudy,
# processSeries and processImage), and Specific Character Set, which decodes them.
FILING_TAGS = (
    0x00080005,  # SpecificCharacterSet
    0x00080018,  # SOPInstanceUID
    0x00080020,  # StudyDate
    0x00080021,  # SeriesDate
    0x00081030,  # StudyDescription
    0x0008103E,  # SeriesDescription
    0x00100010,  # PatientName
    0x00100020,  # PatientID
    0x0020000D,  # StudyInstanceUID
    0x0020000E,  # SeriesInstanceUID
    0x00200013,  # InstanceNumber
)
FILING_KEYWORDS = ('PatientID', 'PatientName', 'StudyDescription', 'StudyDate', 'StudyInstanceUID',
                   'SeriesDescription', 'SeriesDate', 'SeriesInstanceUID', 'SOPInstanceUID', 'InstanceNumber')
# The series-level attributes: instances that agree on these are filed into one series dir.
SERIES_TAGS = (0x00080005, 0x00080020, 0x00080021, 0x00081030, 0x0008103E, 0x00100010, 0x00100020,
               0x0020000D, 0x0020000E)
LAST_TAG = max(FILING_TAGS)

IMPLICIT_LE = '1.2.840.10008.1.2'
EXPLICIT_BE = '1.2.840.10008.1.2.2'
DEFLATED = ('1.2.840.10008.1.2.1.99', '1.2.840.10008.1.2.8.1')

# VRs with a 2-byte reserved field and a 4-byte length in explicit VR encoding.
LONG_VRS = frozenset((b'OB', b'OD', b'OF', b'OL', b'OV', b'OW', b'SQ', b'SV', b'UC', b'UN', b'UR', b'UT', b'UV'))
SHORT_VRS = frozenset((b'AE', b'AS', b'AT', b'CS', b'DA', b'DS', b'DT', b'FD', b'FL', b'IS', b'LO', b'LT', b'PN',
                       b'SH', b'SL', b'SS', b'ST', b'TM', b'UI', b'UL', b'US'))
KNOWN_VRS = LONG_VRS | SHORT_VRS

ITEM = 0xFFFEE000
ITEM_END = 0xFFFEE00D
SEQUENCE_END = 0xFFFEE0DD
UNDEFINED = 0xFFFFFFFF

_TAG = struct.Struct('<HH')
_EXPLICIT = struct.Struct('<HH2sH')
_U32 = struct.Struct('<I')
_EXPLICIT_BE = struct.Struct('>HH2sH')
_U32_BE = struct.Struct('>I')
# (element header, 32-bit length) readers of little and big endian data sets.
_LE = (_EXPLICIT.unpack_from, _U32.unpack_from)
_BE = (_EXPLICIT_BE.unpack_from, _U32_BE.unpack_from)
# A deflated data set is inflated in memory up to this size to be walked. A received file that
# inflates to more is never handed to pydicom (which inflates without a bound): it is quarantined
# as one whose completeness cannot be told, so a small deflate bomb cannot exhaust the filer.
INFLATED_MAX = 64 * 1024 * 1024


class Unsupported(Exception):
    """The bytes use an encoding this walker leaves to pydicom."""


class Truncated(Exception):
    """The bytes end inside an element."""


def _tag_at(data, pos):
    group, element = _TAG.unpack_from(data, pos)
    return (group << 16) | element


def file_meta(data):
    """(transfer syntax UID, offset of the data set) of a DICOM file's bytes (Part 10 only)."""
    if len(data) < 132 or data[128:132] != b'DICM':
        raise Unsupported('no DICOM preamble')
    pos, syntax = 132, None
    while True:
        if pos + 8 > len(data):
            raise Truncated('the file ends in its file meta information')
        group, element, vr, length = _EXPLICIT.unpack_from(data, pos)
        if group != 2:
            break
        if vr not in KNOWN_VRS:
            raise Unsupported('file meta element with an unknown VR')
        if vr in LONG_VRS:
            if pos + 12 > len(data):
                raise Truncated('the file ends in its file meta information')
            length = _U32.unpack_from(data, pos + 8)[0]
            pos += 12
        else:
            pos += 8
        if length == UNDEFINED:
            raise Unsupported('undefined length in the file meta information')
        if pos + length > len(data):
            raise Truncated('the file ends in its file meta information')
        if element == 0x0010:
            syntax = data[pos:pos + length].rstrip(b'\x00 ').decode('ascii', 'replace')
        pos += length
    if syntax is None:
        raise Unsupported('no transfer syntax in the file meta information')
    return syntax, pos


def _implicit(syntax):
    """Whether the header walker (scan) reads this transfer syntax as implicit VR; Unsupported for
    the ones it leaves to pydicom."""
    if syntax == IMPLICIT_LE:
        return True
    if syntax == EXPLICIT_BE or syntax in DEFLATED:
        raise Unsupported('transfer syntax %s' % syntax)
    return False


def _element(data, pos, implicit, end, big=False):
    """(tag, VR bytes or None, length, offset of the value) of the element at pos."""
    if pos + 8 > end:
        raise Truncated('the file ends in an element header')
    explicit, u32 = _BE if big else _LE
    group, element, vr, length = explicit(data, pos)
    tag = (group << 16) | element
    if implicit or group == 0xFFFE:
        return tag, None, u32(data, pos + 4)[0], pos + 8
    if vr in LONG_VRS:
        if pos + 12 > end:
            raise Truncated('the file ends in an element header')
        return tag, vr, u32(data, pos + 8)[0], pos + 12
    if vr not in SHORT_VRS:
        raise Unsupported('an explicit VR this walker does not know')
    return tag, vr, length, pos + 8


def _skip_undefined(data, pos, implicit, end, vr, big=False):
    """The offset after an undefined-length element's value that starts at pos."""
    if vr == b'UN':
        # An undefined-length UN element is a sequence encoded in implicit VR little endian (PS3.5 6.2.2).
        if big:
            raise Unsupported('undefined-length UN element in a big endian data set')
        implicit, vr = True, b'SQ'
    while True:
        tag, _vr, length, pos = _element(data, pos, True, end, big)
        if tag == SEQUENCE_END:
            return pos + (0 if length == UNDEFINED else length)
        if tag != ITEM:
            raise Unsupported('unexpected element in a sequence')
        if length == UNDEFINED:
            if vr not in (None, b'SQ'):
                raise Unsupported('undefined-length fragment')
            pos = _skip_items_dataset(data, pos, implicit, end, big)
        else:
            pos += length
            if pos > end:
                raise Truncated('the file ends in a sequence item')


def _skip_items_dataset(data, pos, implicit, end, big=False):
    """Walk the elements of an undefined-length item; return the offset after its end marker."""
    while True:
        tag, vr, length, pos = _element(data, pos, implicit, end, big)
        if tag == ITEM_END:
            return pos
        if length == UNDEFINED:
            pos = _skip_undefined(data, pos, implicit, end, vr, big)
        else:
            pos += length
            if pos > end:
                raise Truncated('the file ends inside an element')


def _check_encoding(data, pos, implicit):
    """Leave it to pydicom when the first element disagrees with the transfer syntax."""
    if pos + 6 > len(data):
        return
    looks_explicit = data[pos + 4:pos + 6] in KNOWN_VRS
    if implicit and looks_explicit and _tag_at(data, pos) >> 16 != 0xFFFE:
        raise Unsupported('implicit transfer syntax with explicit VRs')
    if not implicit and not looks_explicit:
        raise Unsupported('explicit transfer syntax without a known VR')


def _walk_to_end(data, pos, end, implicit, big=False):
    """Walk the top-level elements from pos to the end; Truncated unless the last one ends at end."""
    explicit, u32 = _BE if big else _LE
    long_vrs, short_vrs = LONG_VRS, SHORT_VRS
    # Two loops, inlined: this runs for every element of every received file.
    if implicit:
        while pos < end:
            if pos + 8 > end:
                raise Truncated('the file ends in an element header')
            length = u32(data, pos + 4)[0]
            if length == UNDEFINED:
                pos = _skip_undefined(data, pos + 8, True, end, None, big)
            else:
                pos += 8 + length
    else:
        while pos < end:
            if pos + 8 > end:
                raise Truncated('the file ends in an element header')
            group, _element_number, vr, length = explicit(data, pos)
            if vr in short_vrs and group != 0xFFFE:
                pos += 8 + length
                continue
            if group == 0xFFFE:
                vr, length, value = None, u32(data, pos + 4)[0], pos + 8
            elif vr in long_vrs:
                if pos + 12 > end:
                    raise Truncated('the file ends in an element header')
                length, value = u32(data, pos + 8)[0], pos + 12
            else:
                raise Unsupported('an explicit VR this walker does not know')
            if length == UNDEFINED:
                pos = _skip_undefined(data, value, False, end, vr, big)
            else:
                pos = value + length
    if pos > end:
        raise Truncated('the file ends inside an element')


def scan(data, tags=FILING_TAGS, complete=True, check=False):
    """Raw elements of the top-level data set with the given tags: (implicit, {tag: (VR or None,
    value bytes, offset)}).

    Stops at the first element past the largest tag asked for; with ``check``, walks on to the end
    of data and raises Truncated unless the last element ends exactly there (completeness() in the
    same pass). ``complete`` says whether data holds the whole file: when it does not and the walk
    reaches its end, Unsupported is raised (read more, or let pydicom read the file)."""
    syntax, pos = file_meta(data)
    implicit = _implicit(syntax)
    _check_encoding(data, pos, implicit)
    wanted, last, end, found = frozenset(tags), max(tags), len(data), {}
    # The loop of _element(), inlined: this runs for every element before the last tag asked for.
    unpack, unpack_u32, long_vrs, short_vrs = _EXPLICIT.unpack_from, _U32.unpack_from, LONG_VRS, SHORT_VRS
    try:
        while pos < end:
            if pos + 8 > end:
                raise Truncated('the file ends in an element header')
            group, element, vr, length = unpack(data, pos)
            tag = (group << 16) | element
            if tag > last:
                if check and complete:
                    _walk_to_end(data, pos, end, implicit)
                break
            if implicit or group == 0xFFFE:
                vr, length, value = None, unpack_u32(data, pos + 4)[0], pos + 8
            elif vr in long_vrs:
                if pos + 12 > end:
                    raise Truncated('the file ends in an element header')
                length, value = unpack_u32(data, pos + 8)[0], pos + 12
            elif vr in short_vrs:
                value = pos + 8
            else:
                raise Unsupported('an explicit VR this walker does not know')
            if length == UNDEFINED:
                if tag in wanted:
                    raise Unsupported('undefined-length element asked for')
                pos = _skip_undefined(data, value, implicit, end, vr)
                continue
            pos = value + length
            if pos > end:
                raise Truncated('the file ends inside an element')
            if tag in wanted:
                found[tag] = (None if vr is None else vr.decode('ascii'), data[value:pos], value)
        else:
            if not complete:
                raise Unsupported('more bytes needed')
    except Truncated:
        if not complete:
            raise Unsupported('more bytes needed')
        raise
    return implicit, found


def completeness(data):
    """'complete' when every element of the file ends within it and the last one at its end, else
    raise Truncated; Unsupported (with what it cannot tell from) when this walker cannot tell.

    Reads every transfer syntax storescp accepts with +xa: implicit and explicit VR little endian,
    explicit VR big endian, and deflated data sets (inflated, then walked; one that inflates to more
    than INFLATED_MAX bytes is complete when its deflate stream ends within the file). A data set
    whose first element disagrees with its transfer syntax about explicit VRs is walked as it is
    encoded, as pydicom reads it."""
    syntax, pos = file_meta(data)
    big = syntax == EXPLICIT_BE
    implicit = syntax == IMPLICIT_LE
    end = len(data)
    if syntax in DEFLATED:
        data = _inflate(data, pos)
        if data is None:
            return 'complete'
        pos, end = 0, len(data)
    if pos + 6 <= end:
        group = (_BE if big else _LE)[0](data, pos)[0]
        looks_explicit = data[pos + 4:pos + 6] in KNOWN_VRS
        if implicit and looks_explicit and group != 0xFFFE:
            implicit = False
        elif not implicit and not looks_explicit:
            if big:
                raise Unsupported('a big endian data set without explicit VRs')
            implicit = True
    _walk_to_end(data, pos, end, implicit, big)
    return 'complete'


def _inflate(data, pos):
    """The inflated data set of a deflated transfer syntax's file (bytes from pos), or None when it
    is longer than INFLATED_MAX (its deflate stream then ended within the file). Truncated when
    the deflate stream is cut short; bytes after its end (a gzip trailer, which some writers add)
    are left alone, as pydicom leaves them."""
    inflater = zlib.decompressobj(-15)
    with memoryview(data) as whole, whole[pos:] as stream:
        try:
            inflated = inflater.decompress(stream, INFLATED_MAX + 1)
            if len(inflated) > INFLATED_MAX:
                inflated = None  # too large to keep: only the end of its deflate stream is looked for
                while not inflater.eof:
                    tail = inflater.unconsumed_tail
                    if not inflater.decompress(tail, 1024 * 1024) and not tail:
                        break
        except zlib.error:
            raise Unsupported('its deflated data set cannot be inflated') from None
    if not inflater.eof:
        raise Truncated('the file ends inside its deflated data set')
    return inflated


def to_dataset(implicit, found):
    """A pydicom Dataset of the raw elements scan() found, decoded by pydicom on access exactly
    as when pydicom reads them from the file (its read_dataset builds the same)."""
    # pylint: disable-next=import-outside-toplevel
    from pydicom.dataelem import RawDataElement
    # pylint: disable-next=import-outside-toplevel
    from pydicom.charset import convert_encodings, default_encoding
    # pylint: disable-next=import-outside-toplevel
    from pydicom.dataset import Dataset
    # pylint: disable-next=import-outside-toplevel
    from pydicom.tag import BaseTag

    raw = {}
    for tag, (vr, value, offset) in found.items():
        key = BaseTag(tag)
        raw[key] = RawDataElement(key, vr, len(value), value, offset, implicit, True)
    dataset = Dataset(raw)
    encoding = default_encoding
    if 0x00080005 in raw:
        charset = found[0x00080005][1]
        encoding = _ENCODINGS.get(charset)
        if encoding is None:
            encoding = convert_encodings(_convert_raw()(raw[BaseTag(0x00080005)]).value)
            if len(_ENCODINGS) < 64:
                _ENCODINGS[charset] = encoding
        encoding = list(encoding) if isinstance(encoding, list) else encoding
    dataset.set_original_encoding(implicit, True, encoding)
    return dataset


# Specific Character Set values seen (raw bytes) and pydicom's encodings for them.
_ENCODINGS = {}


def _convert_raw():
    """pydicom's conversion of a raw element: convert_raw_data_element (pydicom 3), or
    DataElement_from_raw (pydicom 2, what Debian 11's Python 3.9 gets)."""
    try:
        # pylint: disable-next=import-outside-toplevel
        from pydicom.dataelem import convert_raw_data_element
        return convert_raw_data_element
    except ImportError:
        # pylint: disable-next=import-outside-toplevel,no-name-in-module
        from pydicom.dataelem import DataElement_from_raw
        return DataElement_from_raw


def pydicom_header(data):
    """pydicom's own reading of the header (stop_before_pixels, the filing tags) of a file's bytes."""
    import pydicom  # pylint: disable=import-outside-toplevel

    return pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True, specific_tags=list(FILING_KEYWORDS))


def read_header(data, complete=True, path=None):
    """(dataset with the filing attributes, how it was read: 'scan' or 'pydicom').

    ``data`` is the file's bytes, or its first bytes (``complete=False``) when the file is large;
    pydicom then reads the header from ``path`` if the walker needs more. Raises Truncated when
    the file ends inside its header, else whatever pydicom raises for a file it cannot read."""
    try:
        implicit, found = scan(data, complete=complete)
    except Unsupported:
        if complete or path is None:
            return pydicom_header(data), 'pydicom'
        import pydicom  # pylint: disable=import-outside-toplevel

        return pydicom.dcmread(path, stop_before_pixels=True, specific_tags=list(FILING_KEYWORDS)), 'pydicom'
    return to_dataset(implicit, found), 'scan'


def read_complete(data):
    """(dataset with the filing attributes, how it was read: 'scan' or 'pydicom') of a whole file's
    bytes, checked to its end: raises Truncated when the file ends inside an element (of its header
    or after it), Unsupported (saying why) when this walker cannot tell whether it is complete, and
    otherwise whatever pydicom raises for a file it cannot read. One walk when the walker reads the
    header itself. A deflated data set is inflated with a bound (INFLATED_MAX) before pydicom reads
    it; one that inflates to more is Unsupported."""
    try:
        implicit, found = scan(data, check=True)
    except Unsupported:
        pass
    else:
        return to_dataset(implicit, found), 'scan'
    try:
        syntax, pos = file_meta(data)
    except (Truncated, Unsupported):
        syntax = None  # pydicom's reading and completeness() below say what is wrong
    if syntax in DEFLATED and _inflate(data, pos) is None:
        raise Unsupported('its deflated data set inflates to more than %d MiB' % (INFLATED_MAX // (1024 * 1024)))
    try:
        dataset = pydicom_header(data)
    except Exception:
        cut = _cut_short(data)
        if cut is not None:
            raise cut from None
        raise
    completeness(data)
    return dataset, 'pydicom'


def _cut_short(data):
    """The Truncated that completeness() raises for data, else None."""
    try:
        completeness(data)
    except Truncated as exc:
        return exc
    except Unsupported:
        pass
    return None
