"""The header walker (plugins/module_utils/dicomheader.py) against pydicom's own reading."""

import glob
import io
import os
import warnings

import pytest

from ansible_collections.pacsgate.listener.plugins.module_utils import dicomheader


def values(dataset):
    return dict((keyword, str(dataset.data_element(keyword).value) if keyword in dataset else None)
                for keyword in dicomheader.FILING_KEYWORDS)


def pydicom_values(data):
    import pydicom
    try:
        return values(pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True,
                                      specific_tags=list(dicomheader.FILING_KEYWORDS)))
    except Exception as exc:  # pylint: disable=broad-except
        return type(exc).__name__


def walker_values(data):
    try:
        dataset, how = dicomheader.read_header(data)
        return values(dataset), how
    except Exception as exc:  # pylint: disable=broad-except
        return type(exc).__name__, 'error'


def test_the_walker_reads_what_pydicom_reads_in_all_of_pydicoms_test_files():
    import pydicom
    base = os.path.join(os.path.dirname(pydicom.__file__), 'data', 'test_files')
    files = sorted(path for path in glob.glob(os.path.join(base, '**', '*'), recursive=True) if os.path.isfile(path))
    assert len(files) > 100
    ways = {}
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        for path in files:
            with open(path, 'rb') as handle:
                data = handle.read()
            got, how = walker_values(data)
            ways[how] = ways.get(how, 0) + 1
            assert got == pydicom_values(data), os.path.relpath(path, base)
    assert ways['scan'] > 100  # most files are read by the walker itself, not handed to pydicom


def ct(tmp_path, **changes):
    import pydicom
    from pydicom.data import get_testdata_file
    ds = pydicom.dcmread(get_testdata_file('CT_small.dcm'))
    for key, value in changes.items():
        setattr(ds, key, value)
    path = str(tmp_path / 'ct.dcm')
    ds.save_as(path, enforce_file_format=True)
    with open(path, 'rb') as handle:
        return ds, handle.read()


def test_a_file_cut_short_is_told_from_a_complete_one(tmp_path):
    _ds, data = ct(tmp_path)
    assert dicomheader.completeness(data) == 'complete'
    pixels = data.index(b'\xe0\x7f\x10\x00')
    for cut in (len(data) - 1, len(data) - 4000, pixels + 13, pixels + 2, pixels - 3):
        with pytest.raises(dicomheader.Truncated):
            dicomheader.completeness(data[:cut])
    # pydicom reads such a file without complaint.
    assert pydicom_values(data[:pixels + 500]) == pydicom_values(data)
    # Cut inside the attributes pypx files by: the header itself is truncated.
    with pytest.raises(dicomheader.Truncated):
        dicomheader.read_header(data[:data.index(b'\x20\x00\x0d\x00') + 20])


def test_undefined_length_sequences_and_implicit_vr(tmp_path):
    import pydicom
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence
    item = Dataset()
    item.ReferencedSOPClassUID = '1.2.840.10008.5.1.4.1.1.2'
    item.ReferencedSOPInstanceUID = '1.2.3.4'
    item.is_undefined_length_sequence_item = True
    ds, _data = ct(tmp_path, ReferencedImageSequence=Sequence([item, item]))
    ds[0x00081140].is_undefined_length = True
    for syntax in (pydicom.uid.ExplicitVRLittleEndian, pydicom.uid.ImplicitVRLittleEndian):
        ds.file_meta.TransferSyntaxUID = syntax
        path = str(tmp_path / 'sq.dcm')
        ds.save_as(path, implicit_vr=syntax.is_implicit_VR, little_endian=True, enforce_file_format=True)
        with open(path, 'rb') as handle:
            data = handle.read()
        assert b'\xfe\xff\xdd\xe0' in data  # a sequence delimitation item: undefined length
        assert walker_values(data) == (pydicom_values(data), 'scan')
        assert dicomheader.completeness(data) == 'complete'
        with pytest.raises(dicomheader.Truncated):
            dicomheader.completeness(data[:data.index(b'\xfe\xff\xdd\xe0') - 2])


def test_what_the_walker_does_not_handle_is_left_to_pydicom():
    from pydicom.data import get_testdata_file
    with open(get_testdata_file('MR_small_bigendian.dcm'), 'rb') as handle:
        data = handle.read()
    got, how = walker_values(data)
    assert how == 'pydicom' and got == pydicom_values(data) and got['SOPInstanceUID']
    # No preamble: not a file storescp writes; pydicom says what it says.
    assert walker_values(b'\x00' * 200) == ('InvalidDicomError', 'error')


def test_character_sets_are_decoded_by_pydicom(tmp_path):
    _ds, data = ct(tmp_path, SpecificCharacterSet='ISO_IR 192', PatientName='Ωμέγα^Ζήτα', StudyDescription='Ἀρχή')
    (got, how), expected = walker_values(data), pydicom_values(data)
    assert how == 'scan' and got == expected and got['PatientName'] == 'Ωμέγα^Ζήτα'
    _ds, data = ct(tmp_path, SpecificCharacterSet='ISO_IR 100', PatientName='Ærø^Åse')
    assert walker_values(data) == (pydicom_values(data), 'scan')


# Checking every file to its end ---------------------------------------------------------------------

def test_every_file_of_pydicoms_test_files_is_checked_to_its_end():
    """Every transfer syntax storescp's +xa accepts (pydicom's test files have implicit and explicit
    little endian, big endian and deflated ones): complete files are complete, the two pydicom cut
    short on purpose are truncated, and any file cut one byte short (deflated: inside its deflate
    stream) is truncated. read_complete() reads what pydicom reads."""
    import pydicom
    base = os.path.join(os.path.dirname(pydicom.__file__), 'data', 'test_files')
    files = sorted(path for path in glob.glob(os.path.join(base, '**', '*'), recursive=True) if os.path.isfile(path))
    verdicts, syntaxes = {}, set()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        for path in files:
            with open(path, 'rb') as handle:
                data = handle.read()
            if data[128:132] != b'DICM':
                continue
            name = os.path.relpath(path, base)
            try:
                verdicts[name] = dicomheader.completeness(data)
            except (dicomheader.Truncated, dicomheader.Unsupported) as exc:
                verdicts[name] = type(exc).__name__
                continue
            syntax, start = dicomheader.file_meta(data)
            syntaxes.add(syntax)
            cut = len(data) - 1 if syntax not in dicomheader.DEFLATED else start + (len(data) - start) // 2
            with pytest.raises(dicomheader.Truncated):
                dicomheader.completeness(data[:cut])
            if pydicom_values(data) != 'InvalidDicomError':
                dataset, _how = dicomheader.read_complete(data)
                assert values(dataset) == pydicom_values(data), name
    assert dict((name, verdict) for name, verdict in verdicts.items() if verdict != 'complete') == {
        'MR_truncated.dcm': 'Truncated', 'rtplan_truncated.dcm': 'Truncated', 'meta_missing_tsyntax.dcm': 'Unsupported'}
    assert {dicomheader.IMPLICIT_LE, dicomheader.EXPLICIT_BE, '1.2.840.10008.1.2.1', '1.2.840.10008.1.2.1.99'} <= syntaxes
    assert len(verdicts) > 150


def test_big_endian_files_are_walked_to_their_end():
    from pydicom.data import get_testdata_file
    for name in ('MR_small_bigendian.dcm', 'rtdose_expb.dcm', 'SC_rgb_small_odd_big_endian.dcm'):
        with open(get_testdata_file(name), 'rb') as handle:
            data = handle.read()
        assert dicomheader.completeness(data) == 'complete'
        _syntax, start = dicomheader.file_meta(data)
        for cut in (len(data) - 1, len(data) - 1000, start + 11):
            with pytest.raises(dicomheader.Truncated):
                dicomheader.completeness(data[:cut])
        # The header by pydicom, the completeness by the walker: a cut in the pixel data is found.
        assert dicomheader.read_complete(data)[1] == 'pydicom'
        with pytest.raises(dicomheader.Truncated):
            dicomheader.read_complete(data[:len(data) - 1000])


def deflated(tmp_path):
    import pydicom
    _ds, data = ct(tmp_path)
    ds = pydicom.dcmread(io.BytesIO(data))
    ds.file_meta.TransferSyntaxUID = pydicom.uid.DeflatedExplicitVRLittleEndian
    path = str(tmp_path / 'deflated.dcm')
    ds.save_as(path, enforce_file_format=True)
    with open(path, 'rb') as handle:
        return handle.read()


def test_a_deflated_data_set_is_inflated_and_walked(tmp_path):
    import zlib
    data = deflated(tmp_path)
    syntax, start = dicomheader.file_meta(data)
    assert syntax in dicomheader.DEFLATED
    assert dicomheader.completeness(data) == 'complete'
    assert dicomheader.read_complete(data)[0].SOPInstanceUID == pydicom_values(data)['SOPInstanceUID']
    # Cut inside the deflate stream (its last byte pads it to an even length).
    for cut in (len(data) - 2, start + 100):
        with pytest.raises(dicomheader.Truncated) as cut_short:
            dicomheader.completeness(data[:cut])
        assert str(cut_short.value) == 'the file ends inside its deflated data set'
    # A whole deflate stream of a data set cut short (the sender's own copy was cut): walked, truncated.
    inflated = zlib.decompressobj(-15).decompress(data[start:])
    packer = zlib.compressobj(6, zlib.DEFLATED, -15)
    cut_set = data[:start] + packer.compress(inflated[:-500]) + packer.flush()
    with pytest.raises(dicomheader.Truncated) as cut_short:
        dicomheader.completeness(cut_set)
    assert str(cut_short.value) == 'the file ends inside an element'
    # Not a deflate stream at all: cannot be told.
    with pytest.raises(dicomheader.Unsupported) as unknown:
        dicomheader.completeness(data[:start] + b'\xff' * 64)
    assert str(unknown.value) == 'its deflated data set cannot be inflated'


def test_a_deflated_data_set_too_large_to_keep_is_complete_when_its_stream_ends(tmp_path, monkeypatch):
    data = deflated(tmp_path)
    monkeypatch.setattr(dicomheader, 'INFLATED_MAX', 1000)
    assert dicomheader.completeness(data) == 'complete'
    with pytest.raises(dicomheader.Truncated):
        dicomheader.completeness(data[:len(data) - 2])


def test_a_received_deflated_data_set_too_large_to_inflate_is_never_given_to_pydicom(tmp_path, monkeypatch):
    """pydicom inflates a deflated data set without a bound: a small deflate bomb would take the
    filer's memory. Above INFLATED_MAX the file cannot be told complete, and pydicom never sees it."""
    import zlib
    data = deflated(tmp_path)
    monkeypatch.setattr(dicomheader, 'INFLATED_MAX', 1000)

    def no_pydicom(_data):
        raise AssertionError('pydicom was asked to read a deflated data set over the bound')
    monkeypatch.setattr(dicomheader, 'pydicom_header', no_pydicom)
    with pytest.raises(dicomheader.Unsupported) as too_large:
        dicomheader.read_complete(data)
    assert str(too_large.value) == 'its deflated data set inflates to more than 0 MiB'
    monkeypatch.setattr(dicomheader, 'INFLATED_MAX', 64 * 1024 * 1024)
    syntax, start = dicomheader.file_meta(data)
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = data[:start] + packer.compress(b'\0' * (65 * 1024 * 1024)) + packer.flush()
    assert syntax in dicomheader.DEFLATED and len(bomb) < 200 * 1024
    with pytest.raises(dicomheader.Unsupported):
        dicomheader.read_complete(bomb)


def with_undefined_length_un(tmp_path, big_endian=False):
    """CT_small with a ReferencedImageSequence of two items encoded as an undefined-length UN element
    (as a receiver that does not know the attribute keeps it): items in implicit VR little endian."""
    import struct
    from pydicom.dataset import Dataset
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset
    item = Dataset()
    item.ReferencedSOPClassUID = '1.2.840.10008.5.1.4.1.1.2'
    item.ReferencedSOPInstanceUID = '1.2.3.4.5'
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, True
    write_dataset(buffer, item)
    items = buffer.getvalue()
    pack = '>' if big_endian else '<'
    element = struct.pack(pack + 'HH2sHI', 0x0008, 0x1140, b'UN', 0, 0xFFFFFFFF) + (
        struct.pack('<HHI', 0xFFFE, 0xE000, 0xFFFFFFFF) + items + struct.pack('<HHI', 0xFFFE, 0xE00D, 0)) * 2 + \
        struct.pack('<HHI', 0xFFFE, 0xE0DD, 0)
    if big_endian:
        from pydicom.data import get_testdata_file
        with open(get_testdata_file('MR_small_bigendian.dcm'), 'rb') as handle:
            data = handle.read()
    else:
        _ds, data = ct(tmp_path)
    _syntax, pos = dicomheader.file_meta(data)
    while True:  # the first element after (0008,1140)
        tag, _vr, length, value = dicomheader._element(data, pos, False, len(data), big_endian)  # pylint: disable=protected-access
        if tag > 0x00081140:
            break
        pos = value + length
    return data[:pos] + element + data[pos:], pos + len(element)


def test_undefined_length_un_elements_are_walked_as_implicit_sequences(tmp_path):
    data, after = with_undefined_length_un(tmp_path)
    assert walker_values(data) == (pydicom_values(data), 'scan')
    assert dicomheader.completeness(data) == 'complete'
    assert dicomheader.read_complete(data)[1] == 'scan'
    for cut in (after - 3, after - 30):
        with pytest.raises(dicomheader.Truncated):
            dicomheader.completeness(data[:cut])
    # In a big endian data set the walker cannot tell how its items are encoded.
    data, _after = with_undefined_length_un(tmp_path, big_endian=True)
    with pytest.raises(dicomheader.Unsupported) as unknown:
        dicomheader.completeness(data)
    assert str(unknown.value) == 'undefined-length UN element in a big endian data set'


def test_a_data_set_encoded_otherwise_than_its_transfer_syntax_says_is_walked_as_encoded(tmp_path):
    _ds, data = ct(tmp_path)
    explicit = b'1.2.840.10008.1.2.1\x00'
    assert data.count(explicit) == 1
    mislabelled = data.replace(explicit, b'1.2.840.10008.1.2\x00\x00\x00')  # explicit VRs, labelled implicit
    assert dicomheader.file_meta(mislabelled)[0] == dicomheader.IMPLICIT_LE
    assert dicomheader.completeness(mislabelled) == 'complete'
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        dataset, how = dicomheader.read_complete(mislabelled)
        assert how == 'pydicom' and values(dataset) == pydicom_values(mislabelled)
        with pytest.raises(dicomheader.Truncated):
            dicomheader.read_complete(mislabelled[:-100])


def test_read_complete_says_truncated_before_unreadable(tmp_path):
    _ds, data = ct(tmp_path)
    pixels = data.index(b'\xe0\x7f\x10\x00')
    assert dicomheader.read_complete(data)[1] == 'scan'
    for cut in (pixels + 500, pixels + 3, data.index(b'\x20\x00\x0d\x00') + 20):
        with pytest.raises(dicomheader.Truncated):
            dicomheader.read_complete(data[:cut])
    import pydicom
    with pytest.raises(pydicom.errors.InvalidDicomError):
        dicomheader.read_complete(b'not DICOM' * 40)
