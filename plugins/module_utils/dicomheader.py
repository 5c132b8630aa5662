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
RawDataElements its own reader would. Anything this walker does not handle with certainty (big
endian or deflated transfer syntaxes, a file without a preamble, explicit VRs it does not know,
undefined-length UN elements, a header longer than the bytes given) is left to pydicom's reader
(``stop_before_pixels`` and the same tags): the result is the same, only slower.

``completeness()`` walks every element to the end of the file: storescp writes each instance
completely before it answers the C-STORE, so only the file being received when the association
ended can be cut short, inside an element; pydicom reads such a file without complaint.

Standard library only at import time; pydicom is imported by the functions that need it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import struct

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
    if syntax == IMPLICIT_LE:
        return True
    if syntax == EXPLICIT_BE or syntax in DEFLATED:
        raise Unsupported('transfer syntax %s' % syntax)
    return False


def _element(data, pos, implicit, end):
    """(tag, VR bytes or None, length, offset of the value) of the element at pos."""
    if pos + 8 > end:
        raise Truncated('the file ends in an element header')
    tag = _tag_at(data, pos)
    if implicit or tag >> 16 == 0xFFFE:
        return tag, None, _U32.unpack_from(data, pos + 4)[0], pos + 8
    vr = data[pos + 4:pos + 6]
    if vr in LONG_VRS:
        if pos + 12 > end:
            raise Truncated('the file ends in an element header')
        return tag, vr, _U32.unpack_from(data, pos + 8)[0], pos + 12
    if vr not in SHORT_VRS:
        raise Unsupported('an explicit VR this walker does not know')
    return tag, vr, _EXPLICIT.unpack_from(data, pos)[3], pos + 8


def _skip_undefined(data, pos, implicit, end, vr):
    """The offset after an undefined-length element's value that starts at pos."""
    if vr == b'UN':
        raise Unsupported('undefined-length UN element')
    while True:
        tag, _vr, length, pos = _element(data, pos, True, end)
        if tag == SEQUENCE_END:
            return pos + (0 if length == UNDEFINED else length)
        if tag != ITEM:
            raise Unsupported('unexpected element in a sequence')
        if length == UNDEFINED:
            if vr not in (None, b'SQ'):
                raise Unsupported('undefined-length fragment')
            pos = _skip_items_dataset(data, pos, implicit, end)
        else:
            pos += length
            if pos > end:
                raise Truncated('the file ends in a sequence item')


def _skip_items_dataset(data, pos, implicit, end):
    """Walk the elements of an undefined-length item; return the offset after its end marker."""
    while True:
        tag, vr, length, pos = _element(data, pos, implicit, end)
        if tag == ITEM_END:
            return pos
        if length == UNDEFINED:
            pos = _skip_undefined(data, pos, implicit, end, vr)
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


def scan(data, tags=FILING_TAGS, complete=True):
    """Raw elements of the top-level data set with the given tags: (implicit, {tag: (VR or None,
    value bytes, offset)}).

    Stops at the first element past the largest tag asked for. ``complete`` says whether data
    holds the whole file: when it does not and the walk reaches its end, Unsupported is raised
    (read more, or let pydicom read the file)."""
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
    """'complete' when every element of the file ends within it and the last one at its end,
    else raise Truncated (Unsupported when this walker cannot tell)."""
    syntax, pos = file_meta(data)
    implicit = _implicit(syntax)
    _check_encoding(data, pos, implicit)
    end = len(data)
    while pos < end:
        _tag, vr, length, value = _element(data, pos, implicit, end)
        if length == UNDEFINED:
            pos = _skip_undefined(data, value, implicit, end, vr)
        else:
            pos = value + length
            if pos > end:
                raise Truncated('the file ends inside an element')
    return 'complete'


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
