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
    with pytest.raises(dicomheader.Unsupported):
        dicomheader.completeness(data)
    # No preamble: not a file storescp writes; pydicom says what it says.
    assert walker_values(b'\x00' * 200) == ('InvalidDicomError', 'error')


def test_character_sets_are_decoded_by_pydicom(tmp_path):
    _ds, data = ct(tmp_path, SpecificCharacterSet='ISO_IR 192', PatientName='Ωμέγα^Ζήτα', StudyDescription='Ἀρχή')
    (got, how), expected = walker_values(data), pydicom_values(data)
    assert how == 'scan' and got == expected and got['PatientName'] == 'Ωμέγα^Ζήτα'
    _ds, data = ct(tmp_path, SpecificCharacterSet='ISO_IR 100', PatientName='Ærø^Åse')
    assert walker_values(data) == (pydicom_values(data), 'scan')
