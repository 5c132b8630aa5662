"""The filer (plugins/module_utils/filer.py) on real DICOM files made with pydicom, filing with pypx's
real code; px-listen's own filing pass (pypx.listen.Listen.run) is the reference."""

import errno
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from ansible_collections.pacsgate.listener.plugins.module_utils import filer, records

from conftest import hold_lock, tree

COLLECTIONS = os.path.normpath(os.path.join(os.path.dirname(filer.__file__), '..', '..', '..', '..', '..'))


def both_ways(tmp_path, px, ours, px_listen, source, label):
    """File source's files with px-listen's own pass into gateway px and with the filer into ours."""
    result = px_listen(str(tmp_path / ('px-work-' + label)), source, px.tmp, px.log, px.data)
    association = ours.receive(source)
    assert ours.file_once() == 0
    return result, association


def load(path):
    with open(path) as handle:
        return json.load(handle)


def dcm_count(found):
    return len([path for path in found if path.endswith('.dcm')])


def no_patient_data(lines, *values):
    text = '\n'.join(lines)
    for value in values:
        assert value not in text


def temps(data_dir):
    return [name for _root, _dirs, files in os.walk(data_dir) for name in files if name.endswith(filer.TEMP_SUFFIX)]


# The same study filed both ways --------------------------------------------------------------------

def test_a_two_series_study_is_filed_as_px_listen_files_it(tmp_path, make_gateway, px_listen, study):
    one = study()
    source = str(tmp_path / 'received')
    for number in (1, 2):
        one.write(source, one.add_series('SERIES %d' % number), 3)
    px, ours = make_gateway('px'), make_gateway('ours')
    _result, association = both_ways(tmp_path, px, ours, px_listen, source, 'a')
    theirs = tree(px.data, px.log)
    assert dcm_count(theirs) == 6
    assert sum(1 for path in theirs if path.endswith('series.info')) == 2
    assert sum(1 for path in theirs if path.startswith('series_map')) == 2
    assert tree(ours.data, ours.log) == theirs
    record = ours.record(association)
    assert (record['instances'], record['filed'], record['quarantined'], record['replaced']) == (6, 6, 0, 0)
    assert not temps(ours.data)
    no_patient_data(ours.lines, one.patient_id, 'PACSGATE', ours.data)


def test_a_second_association_adds_to_an_existing_series_as_px_listen_does(tmp_path, make_gateway, px_listen, study):
    one = study()
    series = one.add_series('SERIES 1')
    first, second = str(tmp_path / 'first'), str(tmp_path / 'second')
    one.write(first, series, 3)
    one.write(second, series, 3, first=4)
    one.write(second, one.add_series('SERIES 2'), 2)
    px, ours = make_gateway('px'), make_gateway('ours')
    both_ways(tmp_path, px, ours, px_listen, first, 'first')
    assert tree(ours.data, ours.log) == tree(px.data, px.log)
    _result, association = both_ways(tmp_path, px, ours, px_listen, second, 'second')
    theirs = tree(px.data, px.log)
    assert dcm_count(theirs) == 8
    assert not [path for path in theirs if path.endswith('receiving.series')]
    assert tree(ours.data, ours.log) == theirs
    assert ours.record(association)['filed'] == 5


def test_attributes_pypx_sanitises_are_filed_as_px_listen_files_them(tmp_path, make_gateway, px_listen, study):
    one = study(patient_id='ID/42 x', patient_name="O'Brien^Seán Zoë-Ängström", description='CT: Chest/Abd (w contrast) ',
                charset='ISO_IR 192')
    source = str(tmp_path / 'received')
    one.write(source, one.add_series('Ax 5.0mm *'), 2)
    one.write(source, one.add_series(''), 1)  # "no value provided"
    one.write(source, one.add_series('Σειρά #3'), 1, InstanceNumber=None)
    px, ours = make_gateway('px'), make_gateway('ours')
    both_ways(tmp_path, px, ours, px_listen, source, 'sanitised')
    theirs = tree(px.data, px.log)
    assert dcm_count(theirs) == 4
    names = '\n'.join(theirs)
    for sanitised in ('/ID.42.x-O.Brien.Seán.Zoë.Ängström/', '/CT..Chest.Abd..w.contrast.-20261129-', '/Ax.5.0mm..-',
                      '/no.value.provided-', '/Σειρά..3-', '/0None-'):
        assert sanitised in names
    assert tree(ours.data, ours.log) == theirs


# Idempotence, crashes, replacement -----------------------------------------------------------------

def filed_state(data_dir):
    return dict((os.path.relpath(os.path.join(root, name), data_dir),
                 (os.stat(os.path.join(root, name)).st_ino, os.stat(os.path.join(root, name)).st_mtime_ns))
                for root, _dirs, files in os.walk(data_dir) for name in files if name.endswith('.dcm'))


def test_refiling_is_idempotent(tmp_path, gw, study):
    one = study()
    source = str(tmp_path / 'received')
    one.write(source, one.add_series(), 5)
    first = gw.receive(source)
    assert gw.file_once() == 0
    before, content = filed_state(gw.data), tree(gw.data, gw.log)
    # The same instances again, as another association and as the same one put back in the queue.
    again = gw.receive(source)
    os.rename(gw.path('filed', first), gw.path('queue', first))
    assert gw.file_once() == 0
    assert filed_state(gw.data) == before and tree(gw.data, gw.log) == content
    for association in (first, again):
        record = gw.record(association)
        assert (record['filed'], record['present'], record['replaced']) == (5, 5, 0)
        assert set(f['status'] for f in record['files']) == {'present'}
    # Filed again with its record in its dir: the stats count only what the new record adds (nothing).
    stats = gw.stats()
    assert (stats['associations_filed'], stats['instances_filed'], sum(stats['received_by_day'].values())) == (2, 10, 10)


CRASH = '''
import os, sys
sys.path.insert(0, {collections!r})
from ansible_collections.pacsgate.listener.plugins.module_utils import filer, records
renamed = [0]
real_rename = os.rename

def rename(src, dst, *args, **kwargs):
    if str(src).endswith(filer.TEMP_SUFFIX):
        if renamed[0] == {after}:
            os._exit(9)  # killed between two renames: nothing is cleaned up
        renamed[0] += 1
    return real_rename(src, dst, *args, **kwargs)

os.rename = rename
filer.Filer(records.load_config({config!r}), log=lambda line: None).run_once()
'''


def test_a_crash_between_renames_then_a_rerun_files_everything(tmp_path, gw, study):
    one = study()
    source = str(tmp_path / 'received')
    names = one.write(source, one.add_series(), 6)
    association = gw.receive(source)
    script = CRASH.format(collections=COLLECTIONS, after=2, config=gw.config_file)
    res = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 9, res.stderr
    # Killed mid-commit: the association is still queued, 2 instances are in place, 4 staged copies left.
    assert os.path.isdir(gw.path('queue', association))
    assert len(filed_state(gw.data)) == 2 and len(temps(gw.data)) == 4
    assert gw.file_once() == 0
    record = gw.record(association)
    assert (record['filed'], record['present'], record['quarantined']) == (6, 2, 0)
    assert not temps(gw.data) and len(filed_state(gw.data)) == 6
    for entry in record['files']:
        with open(os.path.join(gw.data, entry['filed_as']), 'rb') as filed_copy, \
                open(os.path.join(source, entry['name']), 'rb') as received:
            assert filed_copy.read() == received.read()
    assert sorted(f['name'] for f in record['files']) == sorted(names)


def test_a_truncated_final_file_from_an_earlier_full_disk_is_replaced(tmp_path, gw, study):
    one = study()
    source = str(tmp_path / 'received')
    one.write(source, one.add_series(), 3)
    first = gw.receive(source)
    assert gw.file_once() == 0
    victim = gw.record(first)['files'][1]
    path = os.path.join(gw.data, victim['filed_as'])
    with open(path, 'r+b') as handle:  # what a copy cut short by a full disk leaves
        handle.truncate(victim['size'] // 3)
    again = gw.receive(source)
    assert gw.file_once() == 0
    record = gw.record(again)
    assert (record['filed'], record['replaced'], record['present']) == (3, 1, 2)
    with open(path, 'rb') as handle, open(os.path.join(source, victim['name']), 'rb') as received:
        assert handle.read() == received.read()
    assert gw.stats()['instances_replaced'] == 1


def test_a_corrected_resend_of_an_instance_is_filed_and_never_lost(tmp_path, gw, study):
    one = study(patient_name='WRONG^NAME')
    series = one.add_series()
    original = str(tmp_path / 'original')
    name = one.write(original, series, 1)[0]
    sop_uid = name[3:]
    gw.receive(original)
    assert gw.file_once() == 0
    # Resent with the patient's name corrected: pypx files it in the corrected patient's dir.
    one.patient_name = 'RIGHT^NAME'
    corrected = str(tmp_path / 'corrected')
    one.write(corrected, series, 1, sop_uid=sop_uid)
    renamed = gw.receive(corrected)
    # Resent again with another correction that does not move it: it replaces the filed copy.
    fixed = str(tmp_path / 'fixed')
    one.write(fixed, series, 1, sop_uid=sop_uid, InstitutionName='CORRECTED HOSPITAL')
    assert gw.file_once() == 0
    replaced = gw.receive(fixed)
    assert gw.file_once() == 0
    copies = sorted(os.path.relpath(os.path.join(root, f), gw.data)
                    for root, _dirs, files in os.walk(gw.data) for f in files if f.endswith(sop_uid + '.dcm'))
    assert len(copies) == 2 and copies[0].startswith('PG0001-RIGHT.NAME/') and copies[1].startswith('PG0001-WRONG.NAME/')
    assert gw.record(renamed)['files'][0]['status'] == 'new'
    record = gw.record(replaced)
    assert (record['filed'], record['replaced']) == (1, 1)
    with open(os.path.join(gw.data, record['files'][0]['filed_as']), 'rb') as handle, \
            open(os.path.join(fixed, name), 'rb') as received:
        assert handle.read() == received.read()


def test_an_older_copy_filed_after_a_newer_one_does_not_replace_it(tmp_path, gw, study):
    one = study()
    series = one.add_series()
    older, newer = str(tmp_path / 'older'), str(tmp_path / 'newer')
    name = one.write(older, series, 1, mtime=time.time() - 600)[0]
    one.write(newer, series, 1, sop_uid=name[3:], InstitutionName='CORRECTED', mtime=time.time() - 60)
    gw.receive(newer)
    assert gw.file_once() == 0
    late = gw.receive(older)  # a backlog filed out of order
    assert gw.file_once() == 0
    record = gw.record(late)
    assert (record['filed'], record['superseded'], record['replaced']) == (0, 1, 0)
    assert record['files'][0]['status'] == 'older'
    stats = gw.stats()
    assert (stats['instances_filed'], stats['instances_superseded'], stats['instances_replaced']) == (1, 1, 0)
    filed_copies = [os.path.join(root, f) for root, _dirs, files in os.walk(gw.data) for f in files if f.endswith('.dcm')]
    with open(filed_copies[0], 'rb') as handle, open(os.path.join(newer, name), 'rb') as received:
        assert len(filed_copies) == 1 and handle.read() == received.read()


def test_received_twice_in_one_association_the_newer_copy_is_filed(tmp_path, gw, study):
    one = study()
    series = one.add_series()
    source = str(tmp_path / 'received')
    name = one.write(source, series, 1, mtime=time.time() - 60)[0]
    shutil.copy2(os.path.join(source, name), os.path.join(source, name + '.1'))
    one.write(str(tmp_path / 'newer'), series, 1, sop_uid=name[3:], InstitutionName='NEWER')
    shutil.copy2(os.path.join(str(tmp_path / 'newer'), name), os.path.join(source, name))
    association = gw.receive(source)
    assert gw.file_once() == 0
    record = gw.record(association)
    assert (record['instances'], record['filed'], record['superseded']) == (2, 1, 1)
    assert (gw.stats()['instances_filed'], gw.stats()['instances_superseded']) == (1, 1)
    final = [f for f in record['files'] if not f.get('superseded')]
    assert len(final) == 1 and final[0]['name'] == name
    with open(os.path.join(gw.data, final[0]['filed_as']), 'rb') as handle, \
            open(os.path.join(source, name), 'rb') as received:
        assert handle.read() == received.read()


def test_a_large_instance_is_filed_through_a_mapping(tmp_path, gw, study):
    one = study()
    source = str(tmp_path / 'received')
    series = one.add_series()
    one.write(source, series, 1, mtime=time.time() - 100)
    big = one.write(source, series, 1, first=2, PixelData=os.urandom(filer.WHOLE_READ + 12345))[0]
    association = gw.receive(source)
    assert gw.file_once() == 0
    record = gw.record(association)
    assert record['filed'] == 2
    entry = [f for f in record['files'] if f['name'] == big][0]
    assert entry['size'] > filer.WHOLE_READ
    with open(os.path.join(gw.data, entry['filed_as']), 'rb') as handle, open(os.path.join(source, big), 'rb') as received:
        assert handle.read() == received.read()


def test_two_associations_filing_one_instance_at_once_keep_their_staged_copies_apart(tmp_path, gw, study, monkeypatch):
    """With filer_workers >= 2: the first association to have staged its copy waits (in syncfs) until
    the other has staged, renamed and verified its own; then it renames its copy."""
    one = study()
    source = str(tmp_path / 'received')
    name = one.write(source, one.add_series(), 1)[0]
    associations = [gw.receive(source), gw.receive(source)]
    real_syncfs, calls = filer.syncfs, []

    def syncfs(fd):
        calls.append(fd)
        if len(calls) == 1:
            assert wait_for(lambda: len(os.listdir(gw.path('filed'))) == 1, timeout=30)
        return real_syncfs(fd)
    monkeypatch.setattr(filer, 'syncfs', syncfs)
    assert gw.file_once() == 0
    assert len(calls) == 2
    for association in associations:
        record = gw.record(association)
        assert (record['filed'], record['quarantined']) == (1, 0)
        with open(os.path.join(gw.data, record['files'][0]['filed_as']), 'rb') as handle, \
                open(os.path.join(source, name), 'rb') as received:
            assert handle.read() == received.read()
    assert not temps(gw.data) and dcm_count(tree(gw.data)) == 1


def test_a_filing_removes_its_own_leftover_staged_copies_and_stale_unheld_ones(tmp_path, gw, study):
    one = study()
    series = one.add_series()
    source = str(tmp_path / 'first')
    one.write(source, series, 1)
    first = gw.receive(source)
    assert gw.file_once() == 0
    series_dir = os.path.dirname(os.path.join(gw.data, gw.record(first)['files'][0]['filed_as']))
    ids = [gw.new_id() for _round in range(3)]
    busy = gw.new_id()  # being filed by another filer: its lock is held
    os.makedirs(gw.path('queue', busy))
    lock = hold_lock(gw.path('queue', busy, '.lock'))
    planted = {'own': filer.temp_name('00009-1.2.3.9.dcm', filer.staging_tag(ids[0])),
               'stale': filer.temp_name('00010-1.2.3.10.dcm', filer.staging_tag('20261130T000000-1-00000001')),
               'held': filer.temp_name('00011-1.2.3.11.dcm', filer.staging_tag(busy)),
               'older': '.00012-1.2.3.12.dcm' + filer.TEMP_SUFFIX}  # an earlier filer's name
    for name in planted.values():
        with open(os.path.join(series_dir, name), 'wb') as handle:
            handle.write(b'partial copy')
    assert filer.temp_tag(planted['held']) == filer.staging_tag(busy) and filer.temp_tag(planted['older']) is None

    def file_round(number, clock):
        source = str(tmp_path / ('round%d' % number))
        one.write(source, series, 1, first=number + 2)
        gw.receive(source, association=ids[number])
        assert gw.filer(clock=clock).run_once() == 0
        return sorted(label for label, name in planted.items() if os.path.exists(os.path.join(series_dir, name)))

    def later():
        return time.time() + 2 * 3600

    try:
        assert file_round(0, time.time) == ['held', 'older', 'stale']  # its own leftover only: the others are new
        assert file_round(1, later) == ['held', 'older']  # another filing is in progress
    finally:
        os.close(lock)
    for name in os.listdir(gw.path('queue', busy)):
        os.unlink(gw.path('queue', busy, name))
    os.rmdir(gw.path('queue', busy))
    assert file_round(2, later) == []
    assert dcm_count(tree(gw.data)) == 4


# Instances that cannot be filed -------------------------------------------------------------------

@pytest.mark.filterwarnings('ignore:The PN component length')
def test_a_patient_name_too_long_for_the_file_system_quarantines_that_instance_only(tmp_path, gw, study):
    source = str(tmp_path / 'received')
    good = study(patient_id='PGOOD')
    good_names = good.write(source, good.add_series(), 2)
    long_name = 'Ä' * 70 + '^' + 'Ö' * 70  # 281 bytes in UTF-8
    bad = study(patient_id='PLONG', patient_name=long_name, charset='ISO_IR 192')
    bad_name = bad.write(source, bad.add_series(), 1)[0]
    association = gw.receive(source)
    assert gw.file_once() == 0
    record = gw.record(association)
    assert (record['instances'], record['filed'], record['quarantined']) == (3, 2, 1)
    assert sorted(f['name'] for f in record['files']) == sorted(good_names)
    quarantine = gw.path('quarantine', association)
    assert sorted(os.listdir(quarantine)) == [bad_name, bad_name + '.reason.json']
    with open(os.path.join(quarantine, bad_name + '.reason.json')) as handle:
        reason = json.load(handle)
    assert reason['errno'] == 'ENAMETOOLONG'
    assert reason['reason'] == "the patient directory name is 287 bytes, over the file system's limit of 255"
    assert not os.path.exists(os.path.join(gw.path('filed', association), bad_name))
    assert gw.stats()['instances_quarantined'] == 1
    no_patient_data(gw.lines, 'Ä', 'PLONG', 'PGOOD')


def test_the_truncated_newest_file_is_quarantined_as_never_acknowledged(tmp_path, gw, study):
    one = study()
    source = str(tmp_path / 'received')
    names = one.write(source, one.add_series(), 4, mtime=time.time() - 100)
    newest = os.path.join(source, names[-1])
    size = os.path.getsize(newest)
    with open(newest, 'r+b') as handle:  # storescp was killed while receiving it
        handle.truncate(size - 5000)
    association = gw.receive(source)
    assert gw.file_once() == 0
    record = gw.record(association)
    assert (record['filed'], record['quarantined']) == (3, 1)
    assert record['quarantine'] == [{'name': names[-1], 'reason': filer.TRUNCATED_NEWEST}]
    with open(gw.path('quarantine', association, names[-1] + '.reason.json')) as handle:
        assert json.load(handle)['class'] == 'truncated'


def sha256(path):
    with open(path, 'rb') as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def test_a_copy_cut_short_with_the_newest_time_never_replaces_a_filed_copy(tmp_path, gw, study):
    """A resend killed mid-transfer: its partial file has the same mtime as a complete one (ext4 keeps
    times in ticks) and sorts before it by name; it is quarantined, the filed copy stays."""
    one = study()
    source = str(tmp_path / 'received')
    names = one.write(source, one.add_series(), 2, mtime=time.time() - 600)
    first = gw.receive(source)
    assert gw.file_once() == 0
    filed_copies = dict((f['name'], os.path.join(gw.data, f['filed_as'])) for f in gw.record(first)['files'])
    good = dict((name, sha256(path)) for name, path in filed_copies.items())
    resend = str(tmp_path / 'resend')
    os.makedirs(resend)
    cut, whole = sorted(names)
    for name in (cut, whole):
        shutil.copy2(os.path.join(source, name), os.path.join(resend, name))
    with open(os.path.join(resend, cut), 'r+b') as handle:
        handle.truncate(os.path.getsize(os.path.join(source, cut)) - 100)  # cut in the pixel data
    later = time.time() - 60
    for name in (cut, whole):
        os.utime(os.path.join(resend, name), (later, later))
    second = gw.receive(resend)
    assert gw.file_once() == 0
    record = gw.record(second)
    assert (record['filed'], record['present'], record['replaced'], record['quarantined']) == (1, 1, 0, 1)
    assert record['quarantine'] == [{'name': cut, 'reason': filer.TRUNCATED_NEWEST}]
    assert dict((name, sha256(path)) for name, path in filed_copies.items()) == good
    assert gw.stats()['instances_replaced'] == 0


def test_a_file_cut_short_before_the_newest_is_quarantined_too(tmp_path, gw, study):
    """Not only the newest file is checked to its end; one cut short among older ones (damaged after
    storescp acknowledged it) gets the plainer reason."""
    one = study()
    source = str(tmp_path / 'received')
    names = one.write(source, one.add_series(), 3, mtime=time.time() - 100)
    middle = os.path.join(source, names[1])
    when = os.stat(middle).st_mtime_ns
    with open(middle, 'r+b') as handle:
        handle.truncate(os.path.getsize(middle) - 100)
    os.utime(middle, ns=(when, when))
    association = gw.receive(source)
    assert gw.file_once() == 0
    record = gw.record(association)
    assert (record['filed'], record['quarantined']) == (2, 1)
    assert record['quarantine'] == [{'name': names[1], 'reason': filer.TRUNCATED_OTHER}]
    assert dcm_count(tree(gw.data)) == 2


def test_every_transfer_syntax_is_checked_to_its_end(tmp_path, gw, study):
    """Big endian and deflated files (storescp's +xa accepts both) are walked to their end; what cannot
    be checked is quarantined with the reason, not filed."""
    import struct
    import pydicom
    from pydicom.data import get_testdata_file
    source = str(tmp_path / 'received')
    os.makedirs(source)
    base = time.time() - 100

    def put(name, data, age):
        with open(os.path.join(source, name), 'wb') as handle:
            handle.write(data)
        os.utime(os.path.join(source, name), (base - age, base - age))

    for name, sample, cut, age in (('MR.big-whole', 'MR_small_bigendian.dcm', 0, 50), ('RTDOSE.big-cut', 'rtdose_expb.dcm', 1000, 0)):
        with open(get_testdata_file(sample), 'rb') as handle:
            data = handle.read()
        put(name, data[:len(data) - cut], age)
    one = study()
    made = str(tmp_path / 'made')
    for number, (name, age) in enumerate((('CT.deflated-whole', 40), ('CT.deflated-cut', 30), ('CT.unknown-vr', 20))):
        written = one.write(made, one.series[0]['uid'] if one.series else one.add_series(), 1, first=number + 1)[0]
        ds = pydicom.dcmread(os.path.join(made, written))
        if name.startswith('CT.deflated'):
            ds.file_meta.TransferSyntaxUID = pydicom.uid.DeflatedExplicitVRLittleEndian
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        data = buffer.getvalue()
        if name == 'CT.deflated-cut':
            data = data[:len(data) // 2]
        if name == 'CT.unknown-vr':  # after the pixel data: an explicit VR no version of DICOM has
            data += struct.pack('<HH2sH', 0xFFFC, 0xFFFC, b'ZZ', 4) + b'\0' * 4
        put(name, data, age)
    association = gw.receive(source)
    assert gw.file_once() == 0
    record = gw.record(association)
    assert sorted(f['name'] for f in record['files']) == ['CT.deflated-whole', 'MR.big-whole']
    assert sorted((q['name'], q['reason']) for q in record['quarantine']) == [
        ('CT.deflated-cut', filer.TRUNCATED_OTHER),
        ('CT.unknown-vr', 'cannot be verified complete: an explicit VR this walker does not know'),
        ('RTDOSE.big-cut', filer.TRUNCATED_NEWEST)]
    classes = dict((q['name'], load(gw.path('quarantine', association, q['name'] + '.reason.json'))['class'])
                   for q in record['quarantine'])
    assert classes == {'CT.deflated-cut': 'truncated', 'CT.unknown-vr': 'unverifiable', 'RTDOSE.big-cut': 'truncated'}
    assert records.health(gw.tmp, gw.log)['quarantine_reasons'] == {'truncated': 2, 'unverifiable': 1}


def test_a_copy_not_known_complete_never_replaces_a_filed_file(tmp_path, gw, study):
    one = study()
    source = str(tmp_path / 'received')
    one.write(source, one.add_series(), 1, mtime=time.time() - 600)
    association = gw.receive(source)
    assert gw.file_once() == 0
    path = os.path.join(gw.data, gw.record(association)['files'][0]['filed_as'])
    with open(path, 'r+b') as handle:  # a filed copy cut short: replaced by any complete copy
        handle.truncate(os.path.getsize(path) - 100)
    received_later = time.time_ns()
    assert filer._replaceable(path, received_later, True)  # pylint: disable=protected-access
    assert not filer._replaceable(path, received_later, False)  # pylint: disable=protected-access


def test_unreadable_files_and_a_missing_sop_instance_uid_are_quarantined(tmp_path, gw, study):
    one = study()
    source = str(tmp_path / 'received')
    one.write(source, one.add_series(), 2, mtime=time.time() - 100)
    with open(os.path.join(source, 'CT.1.2.3.garbage'), 'wb') as handle:
        handle.write(b'not DICOM at all' * 10)
    os.utime(os.path.join(source, 'CT.1.2.3.garbage'), (time.time() - 200, time.time() - 200))
    nouid = one.write(str(tmp_path / 'nouid'), one.series[0]['uid'], 1, first=9)[0]
    import pydicom
    ds = pydicom.dcmread(os.path.join(str(tmp_path / 'nouid'), nouid))
    del ds.SOPInstanceUID
    ds.save_as(os.path.join(source, 'CT.nouid'))
    os.utime(os.path.join(source, 'CT.nouid'), (time.time() - 150, time.time() - 150))
    association = gw.receive(source)
    assert gw.file_once() == 0
    record = gw.record(association)
    assert (record['filed'], record['quarantined']) == (2, 2)
    assert sorted((q['name'], q['reason']) for q in record['quarantine']) == [
        ('CT.1.2.3.garbage', 'unreadable: InvalidDicomError'), ('CT.nouid', 'no SOP Instance UID')]


# Transient errors ----------------------------------------------------------------------------------

class FullDisk:
    """filer's view of the os module, whose write() to a staged copy fails with ENOSPC after writing part."""

    def __init__(self, after=2):
        self.after = after
        self.full = True
        self.writes = 0

    def __getattr__(self, name):
        return getattr(os, name)

    def write(self, fd, data):
        if self.full and os.readlink('/proc/self/fd/%d' % fd).endswith(filer.TEMP_SUFFIX):
            self.writes += 1
            if self.writes > self.after:
                os.write(fd, bytes(data[:1000]))
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return os.write(fd, data)


def test_a_full_disk_keeps_the_association_queued_until_space_returns(tmp_path, gw, study, monkeypatch):
    one = study()
    source = str(tmp_path / 'received')
    one.write(source, one.add_series(), 5)
    association = gw.receive(source)
    disk = FullDisk(after=2)
    monkeypatch.setattr(filer, 'os', disk)
    clock = [1000.0]
    service = gw.filer(clock=lambda: clock[0])
    assert service.scan() == 1
    service._wait()  # pylint: disable=protected-access
    assert os.path.isdir(gw.path('queue', association)) and not os.listdir(gw.path('filed'))
    assert not temps(gw.data) and not filed_state(gw.data)
    assert 'ENOSPC' in gw.lines[-1] and 'retried in 10 s' in gw.lines[-1]
    clock[0] += 5
    assert service.scan() == 0  # waits for its retry time
    clock[0] += 6
    assert service.scan() == 1
    service._wait()  # pylint: disable=protected-access
    assert 'retried in 20 s' in gw.lines[-1]
    disk.full = False  # space is back
    clock[0] += 21
    assert service.scan() == 1
    service.close()
    record = gw.record(association)
    assert (record['filed'], record['quarantined']) == (5, 0)
    assert len(filed_state(gw.data)) == 5 and not temps(gw.data)


def test_once_reports_what_it_could_not_file(tmp_path, gw, study, monkeypatch):
    one = study()
    source = str(tmp_path / 'received')
    one.write(source, one.add_series(), 2)
    association = gw.receive(source)
    monkeypatch.setattr(filer, 'os', FullDisk(after=0))
    assert gw.file_once() == 1
    assert os.path.isdir(gw.path('queue', association))
    monkeypatch.undo()
    assert gw.file_once() == 0 and os.path.isdir(gw.path('filed', association))


def test_an_association_still_receiving_is_left_alone(tmp_path, gw, study):
    one = study()
    source = str(tmp_path / 'received')
    one.write(source, one.add_series(), 2)
    association = gw.receive(source)
    fd = hold_lock(gw.path('incoming', association, '.lock'))
    try:
        assert gw.file_once() == 0
        assert os.path.isdir(gw.path('incoming', association)) and not filed_state(gw.data)
    finally:
        os.close(fd)
    assert gw.file_once() == 0 and os.path.isdir(gw.path('filed', association))


def test_a_gate_s_leftover_setup_dir_is_removed_when_old_and_unlocked(gw):
    incoming = gw.path('incoming')
    made = {}
    for label, age, extra in (('old', 7200, None), ('young', 60, None), ('locked', 7200, None), ('holding', 7200, 'CT.1')):
        path = os.path.join(incoming, '.new-20261201T000000-%d-0000000%d' % (len(made), len(made)))
        os.makedirs(path)
        for name in ('.association', '.lock') + ((extra,) if extra else ()):
            open(os.path.join(path, name), 'w').close()
        os.utime(path, (time.time() - age, time.time() - age))
        made[label] = path
    fd = hold_lock(os.path.join(made['locked'], '.lock'))
    try:
        service = gw.filer()
        service.remove_stale_new_dirs(time.time())
        service.close()
    finally:
        os.close(fd)
    assert sorted(label for label, path in made.items() if os.path.exists(path)) == ['holding', 'locked', 'young']


# The refuse flag, stats --------------------------------------------------------------------------

class Space:
    """filer's view of the os module, with statvfs reporting free_mb on every file system."""

    def __init__(self, free_mb):
        self.free_mb = free_mb

    def __getattr__(self, name):
        return getattr(os, name)

    def statvfs(self, _path):
        return os.statvfs_result((4096, 4096, 10 ** 9, 0, self.free_mb * 256, 0, 0, 0, 0, 255))


def test_the_refuse_flag_has_hysteresis(make_gateway, monkeypatch):
    gw = make_gateway(min_free_mb=1000)
    space = Space(2000)
    monkeypatch.setattr(filer, 'os', space)
    service = gw.filer()
    flag = gw.path('.pacsgate-refuse')
    steps = []
    for free_mb in (2000, 999, 1050, 1099, 1100, 1050, 999):
        space.free_mb = free_mb
        service.check_space()
        steps.append(os.path.exists(flag))
        if free_mb == 999 and steps[-1]:
            with open(flag) as handle:
                assert handle.read() == 'free space on the tmp file system is 999 MB, below the minimum of 1000 MB\n'
    assert steps == [False, True, True, True, False, False, True]
    service.close()
    assert sum('refusing new associations' in line for line in gw.lines) == 2
    assert sum('accepting associations again' in line for line in gw.lines) == 1


def test_stats_count_the_associations_log_and_the_filing(tmp_path, gw, study):
    log = os.path.join(gw.log, 'associations.log')
    lines = ['2026-12-01T10:00:00Z accepted - id=a peer=192.0.2.1 calling=PACS called=GW',
             '2026-12-01T10:00:01Z refused calling-aetitle id=- peer=192.0.2.9 calling=X called=GW',
             '2026-12-01T10:00:02Z refused disk id=- peer=192.0.2.1 calling=PACS called=GW',
             '2026-12-01T10:00:03Z accepted - id=b peer=192.0.2.1 calling=PACS called=GW']
    with open(log, 'w') as handle:
        handle.write('\n'.join(lines[:3]) + '\n' + lines[3][:20])  # the last line is still being written
    one = study()
    source = str(tmp_path / 'received')
    one.write(source, one.add_series(), 3)
    gw.receive(source)
    assert gw.file_once() == 0
    stats = gw.stats()
    assert stats['associations']['accepted'] == 1
    assert stats['associations']['refused'] == {'called-aetitle': 0, 'calling-aetitle': 1, 'source': 0, 'disk': 1,
                                                'setup': 0, 'protocol': 0}
    assert (stats['associations_filed'], stats['instances_filed'], stats['bytes_filed']) == (
        1, 3, sum(os.path.getsize(os.path.join(source, n)) for n in os.listdir(source)))
    assert stats['filing_latency_seconds']['count'] == 1 and stats['filing_latency_seconds']['buckets']['+Inf'] == 1
    assert sum(stats['received_by_day'].values()) == 3
    # The line completed, then the log rotated with one more line in the old file and one in the new.
    with open(log, 'a') as handle:
        handle.write(lines[3][20:] + '\n' + lines[0] + '\n')
    os.rename(log, log + '.1')
    with open(log, 'w') as handle:
        handle.write(lines[1] + '\n')
    assert gw.file_once() == 0
    stats = gw.stats()
    assert stats['associations']['accepted'] == 3 and stats['associations']['refused']['calling-aetitle'] == 2
    assert stats['last_association_at'] >= records.parse_utc('2026-12-01T10:00:03Z')
    assert stats['gate_log']['inode'] == os.stat(log).st_ino


# px-listen mode ----------------------------------------------------------------------------------

def test_px_listen_dirs_are_verified_or_filed_in_place(tmp_path, make_gateway, px_listen, study):
    one = study()
    source = str(tmp_path / 'received')
    one.write(source, one.add_series(), 3)
    gw = make_gateway('gw', receiver='px-listen')
    result = px_listen(str(tmp_path / 'px-work'), source, gw.tmp, gw.log, gw.data)
    filed_by_px_listen = tree(gw.data, gw.log)
    uuid_dir = result['uuid_directory']
    # A px-listen that died before filing: its files are in its uuid dir, nothing filed.
    lost = os.path.join(gw.tmp, '2f0e4c1a-8d3b-4a5e-9c7d-0123456789ab')
    other = study(patient_id='PLOST')
    other.write(os.path.join(lost, 'LOST_20261201'), other.add_series(), 2)
    with open(os.path.join(lost, 'debug.log'), 'w') as handle:
        handle.write('storescp debug output, not an instance\n')
    open(os.path.join(lost, '.lock'), 'w').close()
    assert gw.file_once() == 0
    assert not os.path.exists(os.path.join(uuid_dir, '.pacsgate-record.json'))  # too recent
    old = time.time() - 600
    for path in (uuid_dir, lost):
        for root, dirs, files in os.walk(path):
            for name in dirs + files + ['']:
                os.utime(os.path.join(root, name), (old, old))
    fd = hold_lock(os.path.join(lost, '.lock'))  # px-listen still running
    try:
        assert gw.file_once() == 0
        assert not os.path.exists(os.path.join(lost, '.pacsgate-record.json'))
    finally:
        os.close(fd)
    assert gw.file_once() == 0
    verified = load(os.path.join(uuid_dir, '.pacsgate-record.json'))
    assert (verified['receiver'], verified['filed'], verified['present'], verified['replaced']) == ('px-listen', 3, 3, 0)
    refiled = load(os.path.join(lost, '.pacsgate-record.json'))
    assert (refiled['instances'], refiled['filed'], refiled['present']) == (2, 2, 0)
    now = tree(gw.data, gw.log)
    assert dict((k, v) for k, v in now.items() if k in filed_by_px_listen) == filed_by_px_listen
    assert dcm_count(now) == 5
    assert os.path.isdir(uuid_dir) and os.path.isdir(lost)  # kept in place for housekeeping


def test_a_recorded_px_listen_dir_that_received_more_is_filed_again(tmp_path, make_gateway, study):
    """Without the lean launcher's lock the filer may take a px-listen dir px-listen still receives
    into: files arriving after its record are filed by taking the dir again once untouched."""
    gw = make_gateway('gw', receiver='px-listen')
    one = study()
    series = one.add_series()
    uuid_dir = gw.path('3c4d5e6f-1a2b-4c3d-8e4f-5a6b7c8d9e0f')
    sub = os.path.join(uuid_dir, 'PACSGATE.TEST_20261201_120000')

    def age(seconds):
        when = time.time() - seconds
        for root, dirs, files in os.walk(uuid_dir):
            for name in dirs + files + ['']:
                os.utime(os.path.join(root, name), (when, when))
    one.write(sub, series, 2)
    age(3600)
    assert gw.file_once() == 0
    clock = [time.time()]
    service = gw.filer(clock=lambda: clock[0])
    try:
        assert service.scan() == 0  # everything recorded
        late = one.write(sub, series, 1, first=3)[0]
        age(600)
        clock[0] += filer.PX_LISTEN_EVERY
        assert service.scan() == 0  # a recorded dir is looked at again every PX_LISTEN_RECHECK_EVERY s
        clock[0] += filer.PX_LISTEN_RECHECK_EVERY
        assert service.scan() == 1
        service._wait()  # pylint: disable=protected-access
        clock[0] += filer.PX_LISTEN_RECHECK_EVERY
        assert service.scan() == 0  # all recorded again
    finally:
        service.close()
    record = load(os.path.join(uuid_dir, records.RECORD))
    assert (record['instances'], record['filed'], record['present']) == (3, 3, 2)
    assert [entry['status'] for entry in record['files'] if entry['name'].endswith(late)] == ['new']
    assert dcm_count(tree(gw.data)) == 3


# Symlinks ------------------------------------------------------------------------------------------

def snapshot(path):
    found = {}
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            full = os.path.join(root, name)
            st = os.lstat(full)
            found[os.path.relpath(full, path)] = (st.st_mode, st.st_size, st.st_mtime_ns, st.st_ino)
    return found


def test_symlinks_in_the_tmp_tree_are_not_followed(tmp_path, tmp_path_factory, gw, study):
    outside = str(tmp_path_factory.mktemp('outside'))
    one = study()
    one.write(outside, one.add_series(), 2)
    os.makedirs(os.path.join(outside, 'sub'))
    before = snapshot(outside)
    os.makedirs(gw.path('incoming'))
    os.makedirs(gw.path('queue'))
    os.symlink(outside, gw.path('incoming', '20261201T120000-1-deadbeef'))
    os.symlink(outside, gw.path('queue', '20261201T120000-2-deadbeef'))
    os.symlink(outside, gw.path('6a3f2b1c-0d4e-4f5a-8b6c-7d8e9f0a1b2c'))
    # Inside a real association: a symlink to an outside instance, and one to the outside dir.
    source = str(tmp_path / 'received')
    one.write(source, one.series[0]['uid'], 1, first=5)
    association = gw.receive(source)
    os.symlink(os.path.join(outside, sorted(os.listdir(outside))[0]), gw.path('incoming', association, 'CT.link'))
    os.symlink(os.path.join(outside, 'sub'), gw.path('incoming', association, 'dirlink'))
    assert gw.file_once() == 0
    assert snapshot(outside) == before
    record = gw.record(association)
    assert record['instances'] == 1 and dcm_count(tree(gw.data)) == 1
    assert os.path.islink(gw.path('incoming', '20261201T120000-1-deadbeef'))
    assert os.path.islink(gw.path('queue', '20261201T120000-2-deadbeef'))


def test_a_symlinked_tmp_dir_is_refused(tmp_path, tmp_path_factory):
    outside = str(tmp_path_factory.mktemp('outside'))
    (tmp_path / 'log').mkdir()
    (tmp_path / 'data').mkdir()
    os.symlink(outside, str(tmp_path / 'tmp'))
    config = {'tmp_dir': str(tmp_path / 'tmp'), 'log_dir': str(tmp_path / 'log'), 'data_dir': str(tmp_path / 'data')}
    with open(str(tmp_path / 'c.json'), 'w') as handle:
        json.dump(config, handle)
    with pytest.raises(OSError) as failed:
        filer.Filer(records.load_config(str(tmp_path / 'c.json')))
    assert failed.value.errno in (errno.ELOOP, errno.ENOTDIR)
    assert os.listdir(outside) == []


# The service ---------------------------------------------------------------------------------------

def run_service(gw, *args):
    env = dict(os.environ, PYTHONPATH=COLLECTIONS)
    return subprocess.Popen([sys.executable, '-m', 'ansible_collections.pacsgate.listener.plugins.module_utils.filer',
                             '--config', gw.config_file] + list(args),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_for(predicate, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_the_service_files_as_associations_end_and_stops_on_sigterm(tmp_path, gw, study):
    one = study(patient_id='PSERVICE')
    source = str(tmp_path / 'received')
    one.write(source, one.add_series(), 3)
    association = gw.new_id()
    os.makedirs(gw.path('incoming'))
    staging = str(tmp_path / 'staging')
    gw.receive(source, association=association)
    os.rename(gw.path('incoming', association), staging)
    fd = hold_lock(os.path.join(staging, '.lock'))
    os.rename(staging, gw.path('incoming', association))  # as the gate does: locked, then renamed
    service = run_service(gw, '--log-file')
    try:
        assert wait_for(lambda: os.path.exists(os.path.join(gw.log, 'filer.log')))
        time.sleep(0.3)
        assert os.path.isdir(gw.path('incoming', association))  # still receiving
        os.close(fd)  # storescp exits
        assert wait_for(lambda: os.path.exists(gw.path('filed', association, '.pacsgate-record.json')))
        service.send_signal(signal.SIGTERM)
        out, err = service.communicate(timeout=20)
    finally:
        if service.poll() is None:
            service.kill()
    assert service.returncode == 0, err
    assert out == ''
    with open(os.path.join(gw.log, 'filer.log')) as handle:
        log = handle.read()
    assert 'association %s: 3 instance(s): 3 filed' % association in log and log.rstrip().endswith('stopped')
    for value in ('PSERVICE', 'PACSGATE', gw.data, source):
        assert value not in log


def locked_association(gw, tmp_path, source):
    """An association in incoming whose lock is held (as by storescp); (id, lock fd)."""
    association = gw.new_id()
    os.makedirs(gw.path('incoming'), exist_ok=True)
    staging = str(tmp_path / ('staging-' + association))
    gw.receive(source, association=association)
    os.rename(gw.path('incoming', association), staging)
    fd = hold_lock(os.path.join(staging, '.lock'))
    os.rename(staging, gw.path('incoming', association))  # as the gate does: locked, then renamed
    return association, fd


def test_sigterm_while_filing_finishes_the_association_in_hand(tmp_path, gw, thousand):
    association, fd = locked_association(gw, tmp_path, thousand)
    service = run_service(gw, '--log-file')
    try:
        assert wait_for(lambda: os.path.exists(os.path.join(gw.log, 'filer.log')))
        os.close(fd)
        assert wait_for(lambda: os.path.isdir(gw.path('queue', association)), timeout=10)
        assert not os.path.exists(gw.path('filed', association))  # being filed now
        service.send_signal(signal.SIGTERM)
        _out, err = service.communicate(timeout=120)
    finally:
        if service.poll() is None:
            service.kill()
    assert service.returncode == 0, err
    assert gw.record(association)['filed'] == 1000


# Speed and memory --------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def thousand(tmp_path_factory):
    """1000 CT instances (about 39 KB each) of one series: one association's worth."""
    from conftest import Study
    source = str(tmp_path_factory.mktemp('thousand'))
    one = Study(patient_id='PBENCH')
    one.write(source, one.add_series(), 1000)
    return source


def test_speed_1000_instances_of_one_association(tmp_path, make_gateway, px_listen, thousand, capsys):
    """Prints how long after an association's end its 1000 instances are filed, and the same for
    px-listen's own filing pass over the same files (a figure, not a timed assertion)."""
    px = make_gateway('px')
    reference = px_listen(str(tmp_path / 'px-work'), thousand, px.tmp, px.log, px.data)
    ours = make_gateway('ours')
    association = ours.new_id()
    staging = str(tmp_path / 'staging')
    ours.receive(thousand, association=association)
    os.makedirs(ours.path('queue'), exist_ok=True)
    os.rename(ours.path('incoming', association), staging)
    fd = hold_lock(os.path.join(staging, '.lock'))
    os.rename(staging, ours.path('incoming', association))
    service = ours.filer()
    worker = threading.Thread(target=service.run)
    worker.start()
    try:
        time.sleep(0.3)
        ended = time.time()
        os.close(fd)
        assert wait_for(lambda: os.path.exists(ours.path('filed', association, '.pacsgate-record.json')), timeout=120)
    finally:
        service.stop.set()
        worker.join()
    record = ours.record(association)
    assert record['filed'] == 1000
    latency = record['filed_at'] - ended
    assert tree(ours.data, ours.log) == tree(px.data, px.log)
    with capsys.disabled():
        sys.stdout.write('\nfiler: 1000 instances (%.1f MB) of one association filed %.2f s after it ended; '
                         "px-listen's filing pass over the same files: %.2f s (%.1f times the filer's)\n"
                         % (record['bytes'] / 1e6, latency, reference['filing_seconds'],
                            reference['filing_seconds'] / latency))


def test_memory_after_filing_1000_instances(tmp_path, make_gateway, thousand, capsys):
    gw = make_gateway('rss')
    association = gw.receive(thousand)
    env = dict(os.environ, PYTHONPATH=COLLECTIONS)
    pid = os.spawnve(os.P_NOWAIT, sys.executable, [
        sys.executable, '-m', 'ansible_collections.pacsgate.listener.plugins.module_utils.filer', '--once',
        '--log-file', '--config', gw.config_file], env)
    _pid, status, usage = os.wait4(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert gw.record(association)['filed'] == 1000
    rss_mib = usage.ru_maxrss / 1024.0
    with capsys.disabled():
        sys.stdout.write('\nfiler: peak RSS %.1f MiB after filing 1000 instances (python -m ...filer --once)\n' % rss_mib)
    assert rss_mib < 150


def test_the_gateways_own_c_echoes_are_no_senders_associations(tmp_path, make_gateway):
    """The verify step's, the status playbook's and the metrics' C-ECHOs (calling AE title
    verify_calling_aetitle) are counted apart and move neither accepted nor the last association."""
    gw = make_gateway(verify_calling_aetitle='PACS')
    with open(os.path.join(gw.log, 'associations.log'), 'w') as handle:
        handle.write('2026-12-01T10:00:00Z accepted - id=a peer=127.0.0.1 calling=PACS called=GW\n')
    empty = str(tmp_path / 'empty')
    os.makedirs(empty)
    gw.receive(empty)  # an association without instances from calling AE title PACS: a C-ECHO
    assert gw.file_once() == 0
    stats = gw.stats()
    assert (stats['associations']['accepted'], stats['associations']['checks']) == (0, 1)
    assert stats['associations_filed'] == 1 and stats['last_association_at'] is None


@pytest.mark.parametrize('mapped', [True, False], ids=['mapped-files', 'read-files'])
def test_instances_of_one_series_whose_keys_differ_in_raw_bytes_are_filed_together(
        tmp_path, gw, study, monkeypatch, mapped):
    """Two instances of one series, one with a Specific Character Set and one without: their series
    keys differ byte for byte, pypx puts them in one dir. One listing of that dir per association,
    so the second never removes the first's staged copy as a leftover."""
    if mapped:
        monkeypatch.setattr(filer, 'WHOLE_READ', 0)  # every file mapped, its staged copy written at once
    one = study()
    series = one.add_series()
    source = str(tmp_path / 'received')
    one.write(source, series, 1, mtime=time.time() - 100)
    one.write(source, series, 1, first=2, mtime=time.time() - 90, SpecificCharacterSet='ISO_IR 192')
    association = gw.receive(source)
    assert gw.file_once() == 0
    record = gw.record(association)
    assert (record['filed'], record['quarantined']) == (2, 0)
    assert len({os.path.dirname(f['filed_as']) for f in record['files']}) == 1


def test_a_filed_copy_whose_completeness_cannot_be_walked_is_kept_and_the_association_filed(tmp_path, gw, study):
    """A filed copy nested too deep to walk (RecursionError), newer than a copy received later: it is
    not replaced, as one whose completeness cannot be told, and the association is not kept retrying."""
    import struct
    from pydicom.uid import generate_uid
    one = study()
    series = one.add_series()
    uid = generate_uid()
    first, second = str(tmp_path / 'first'), str(tmp_path / 'second')
    one.write(first, series, 1, sop_uid=uid, ImageComments='A')
    one.write(second, series, 1, sop_uid=uid, ImageComments='B')
    filed = gw.receive(first)
    assert gw.file_once() == 0
    final = os.path.join(gw.data, gw.record(filed)['files'][0]['filed_as'])
    syntax = b'1.2.840.10008.1.2\0'
    element = struct.pack('<HH2sH', 2, 0x10, b'UI', len(syntax)) + syntax
    nested = (struct.pack('<HHI', 0x0008, 0x1115, 0xFFFFFFFF) + struct.pack('<HHI', 0xFFFE, 0xE000, 0xFFFFFFFF)) * 3000
    with open(final, 'wb') as handle:
        handle.write(b'\0' * 128 + b'DICM' + struct.pack('<HH2sHI', 2, 0, b'UL', 4, len(element)) + element + nested)
    later = time.time() + 3600
    os.utime(final, (later, later))
    refiled = gw.receive(second)
    assert gw.file_once() == 0
    assert not os.path.isdir(gw.path('queue', refiled))
    record = gw.record(refiled)
    assert (record['filed'], record['superseded']) == (0, 1) and record['files'][0]['superseded']


def test_an_older_copy_staged_while_another_filer_files_a_newer_one_never_goes_over_it(
        tmp_path, gw, study, monkeypatch):
    """Two workers file the same instance: A (older copy) stages it when nothing is filed, B (a
    corrected resend) files it before A commits. A's commit asks again under the series lock and
    leaves B's copy, recording its own as superseded; housekeeping then removes both dirs."""
    from pydicom.uid import generate_uid
    from ansible_collections.pacsgate.listener.plugins.module_utils import housekeeping
    one = study()
    series = one.add_series()
    uid = generate_uid()
    old_source, new_source = str(tmp_path / 'old'), str(tmp_path / 'new')
    one.write(old_source, series, 1, mtime=time.time() - 100, sop_uid=uid, ImageComments='VERSION 1')
    one.write(new_source, series, 1, mtime=time.time() - 50, sop_uid=uid, ImageComments='VERSION 2')
    older, newer = gw.receive(old_source), gw.receive(new_source)
    worker = gw.filer()
    locks = {}
    for name in (older, newer):
        os.rename(gw.path('incoming', name), gw.path('queue', name))
        locks[name] = worker._lock_dir(worker.queue_fd, name)  # pylint: disable=protected-access
    real_sync, done = filer.Association._sync, []  # pylint: disable=protected-access

    def sync(self):
        if self.name == older and not done:
            done.append(1)
            assert worker.file_one(('queue', newer), newer, locks[newer][0], 'filer', None)
        return real_sync(self)

    monkeypatch.setattr(filer.Association, '_sync', sync)
    assert worker.file_one(('queue', older), older, locks[older][0], 'filer', None)
    assert done
    old_record, new_record = gw.record(older), gw.record(newer)
    final = os.path.join(gw.data, new_record['files'][0]['filed_as'])
    with open(final, 'rb') as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == new_record['files'][0]['sha256']
    assert (old_record['filed'], old_record['superseded']) == (0, 1)
    assert not [n for n in os.listdir(os.path.dirname(final)) if n.endswith(filer.TEMP_SUFFIX)]
    for fds in locks.values():
        os.close(fds[1])
        os.close(fds[0])
    worker.close()
    summary = housekeeping.run(records.load_config(gw.config_file), now=time.time() + 10 * 86400, file_first=False)
    assert (summary['removed'], summary['kept_changed']) == (2, 0), summary
