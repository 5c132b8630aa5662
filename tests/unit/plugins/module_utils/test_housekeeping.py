"""Housekeeping (plugins/module_utils/housekeeping.py): a filer pass, then removal of recorded and
re-verified association dirs only, log rotation and retention, map pruning; never through a symlink."""

import json
import os
import time

from ansible_collections.pacsgate.listener.plugins.module_utils import housekeeping, records

DAY = 86400


def snapshot(path):
    found = {}
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            full = os.path.join(root, name)
            st = os.lstat(full)
            found[os.path.relpath(full, path)] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return found


def run(gw, days=2, **kwargs):
    return housekeeping.run(records.load_config(gw.config_file), now=time.time() + days * DAY, log=gw.lines.append,
                            **kwargs)


def filed(gw, study, tmp_path, label, count=2):
    one = study(patient_id='P' + label)
    source = str(tmp_path / label)
    one.write(source, one.add_series(), count)
    association = gw.receive(source)
    assert gw.file_once() == 0
    return association


def test_a_filer_pass_comes_first(tmp_path, gw, study):
    one = study()
    source = str(tmp_path / 'received')
    one.write(source, one.add_series(), 2)
    association = gw.receive(source)
    summary = run(gw, days=0)
    assert summary['filer_pass'] == 'done' and summary['kept_recent'] == 1 and summary['removed'] == 0
    assert gw.record(association)['filed'] == 2


def test_only_recorded_and_reverified_dirs_are_removed(tmp_path, gw, study, px_listen):
    keep = dict((label, filed(gw, study, tmp_path, label)) for label in ('A', 'CHANGED', 'DELETED', 'ESCAPE'))
    changed = gw.record(keep['CHANGED'])['files'][0]
    with open(os.path.join(gw.data, changed['filed_as']), 'r+b') as handle:
        handle.seek(200)
        handle.write(b'edited after filing')
    os.unlink(os.path.join(gw.data, gw.record(keep['DELETED'])['files'][1]['filed_as']))
    record = gw.record(keep['ESCAPE'])
    record['files'][0]['filed_as'] = '../' + record['files'][0]['filed_as']
    with open(gw.path('filed', keep['ESCAPE'], records.RECORD), 'w') as handle:
        json.dump(record, handle)
    os.makedirs(gw.path('filed', '20261201T000000-1-0000000b'))  # no record
    # px-listen dirs: one with a record (filed by px-listen, verified by the filer), one without.
    px_source = str(tmp_path / 'px')
    one = study(patient_id='PPX')
    one.write(px_source, one.add_series(), 2)
    verified = px_listen(str(tmp_path / 'px-work'), px_source, gw.tmp, gw.log, gw.data)['uuid_directory']
    old = time.time() - 3600
    for root, dirs, files in os.walk(verified):
        for name in dirs + files + ['']:
            os.utime(os.path.join(root, name), (old, old))
    assert gw.file_once() == 0 and os.path.exists(os.path.join(verified, records.RECORD))
    unrecorded = gw.path('9b8f3d4e-1a2b-4c3d-8e4f-5a6b7c8d9e0f', 'SUB')
    os.makedirs(unrecorded)
    # What housekeeping never touches.
    for place in ('incoming/20261201T000000-2-0000000c', 'queue/20261201T000000-3-0000000d',
                  'quarantine/20261201T000000-4-0000000e'):
        os.makedirs(gw.path(place), exist_ok=True)
        with open(gw.path(place, 'CT.1.2.3'), 'w') as handle:
            handle.write('x')
    untouched = dict((place, snapshot(gw.path(place))) for place in ('incoming', 'queue', 'quarantine'))
    data = snapshot(gw.data)
    summary = run(gw, file_first=False)
    assert (summary['removed'], summary['kept_changed'], summary['kept_unrecorded'], summary['kept_recent']) == (2, 3, 1, 0)
    assert sorted(os.listdir(gw.path('filed'))) == sorted([keep['CHANGED'], keep['DELETED'], keep['ESCAPE'],
                                                           '20261201T000000-1-0000000b'])
    assert not os.path.exists(verified) and os.path.isdir(unrecorded)
    assert snapshot(gw.data) == data
    assert dict((place, snapshot(gw.path(place))) for place in untouched) == untouched


def test_recent_dirs_are_kept_and_a_dry_run_removes_nothing(tmp_path, gw, study):
    association = filed(gw, study, tmp_path, 'A')
    assert run(gw, days=0.5, file_first=False)['kept_recent'] == 1
    before = snapshot(gw.tmp)
    summary = run(gw, dry_run=True)
    assert summary['removed'] == 1 and summary['filer_pass'] is None
    assert snapshot(gw.tmp) == before
    assert os.path.isdir(gw.path('filed', association))


def test_symlinks_are_never_followed(tmp_path, tmp_path_factory, gw, study):
    outside = str(tmp_path_factory.mktemp('outside'))
    a = filed(gw, study, tmp_path, 'A')
    b = filed(gw, study, tmp_path, 'B')
    c = filed(gw, study, tmp_path, 'C')
    # A planted filed "association" that is a symlink to a copy of a real one, outside.
    os.rename(gw.path('filed', a), os.path.join(outside, a))
    os.symlink(os.path.join(outside, a), gw.path('filed', a))
    # B's series dir replaced by a symlink to an outside copy with the same content: not verified.
    series = os.path.dirname(os.path.join(gw.data, gw.record(b)['files'][0]['filed_as']))
    os.rename(series, os.path.join(outside, 'series'))
    os.symlink(os.path.join(outside, 'series'), series)
    # C holds a symlink to outside, and its record is fine: C is removed, the link's target stays.
    os.symlink(outside, gw.path('filed', c, 'link'))
    os.symlink(os.path.join(outside, 'series'), gw.path('filed', c, 'CT.link'))
    # A record that is a symlink to a valid record outside is not read.
    d = filed(gw, study, tmp_path, 'D')
    os.rename(gw.path('filed', d, records.RECORD), os.path.join(outside, 'record.json'))
    os.symlink(os.path.join(outside, 'record.json'), gw.path('filed', d, records.RECORD))
    before = snapshot(outside)
    summary = run(gw, file_first=False)
    assert (summary['removed'], summary['kept_changed'], summary['kept_unrecorded']) == (1, 1, 1)
    assert not os.path.exists(gw.path('filed', c))
    assert os.path.islink(gw.path('filed', a)) and os.path.isdir(gw.path('filed', b))
    assert snapshot(outside) == before


def test_logs_are_rotated_and_px_listen_logs_expire(make_gateway, tmp_path_factory):
    gw = make_gateway(log_max_mb=1, log_keep=3, log_retention_days=30)
    log = gw.log
    outside = str(tmp_path_factory.mktemp('outside'))

    def write(name, size, age_days=0):
        path = os.path.join(log, name)
        with open(path, 'w') as handle:
            handle.write(name[0] * size)
        if age_days:
            when = time.time() - age_days * DAY
            os.utime(path, (when, when))
    write('listen.run.log', 2 * 1024 * 1024)
    write('associations.log', 1024 * 1024 + 1)
    write('associations.log.1', 10)
    write('associations.log.3', 30)
    write('filer.log', 100)
    write('out-1.txt', 10, age_days=31)
    write('err-1.txt', 10, age_days=31)
    write('out-2.txt', 10, age_days=29)
    os.symlink(os.path.join(outside, 'target.txt'), os.path.join(log, 'err-9.txt'))
    with open(os.path.join(outside, 'target.txt'), 'w') as handle:
        handle.write('outside')
    when = time.time() - 60 * DAY
    os.utime(os.path.join(outside, 'target.txt'), (when, when))
    summary = run(gw, days=0, file_first=False)
    assert (summary['logs_rotated'], summary['px_listen_logs_deleted']) == (2, 2)
    sizes = dict((name, os.lstat(os.path.join(log, name)).st_size) for name in os.listdir(log)
                 if not os.path.isdir(os.path.join(log, name)))
    assert sizes.pop('err-9.txt') > 0
    assert sizes == {'listen.run.log.1': 2 * 1024 * 1024, 'associations.log.1': 1024 * 1024 + 1, 'associations.log.2': 10,
                     'associations.log.3': 30, 'filer.log': 100, 'out-2.txt': 10}
    assert os.path.exists(os.path.join(outside, 'target.txt'))


def test_map_files_whose_target_is_gone_are_removed(tmp_path, tmp_path_factory, gw, study):
    outside = str(tmp_path_factory.mktemp('outside'))
    filed(gw, study, tmp_path, 'A')
    series_maps = os.path.join(gw.log, 'series_map')
    kept = sorted(os.listdir(series_maps))

    def mapping(name, target):
        with open(os.path.join(series_maps, name), 'w') as handle:
            json.dump({name[:-5]: target}, handle)
    mapping('1.9.1.json', os.path.join(gw.data, 'PX-GONE', 'STUDY', 'SERIES'))
    mapping('1.9.2.json', os.path.join(outside, 'gone'))  # not in the data dir: not ours to judge
    os.symlink(outside, os.path.join(gw.data, 'PLINK'))
    mapping('1.9.3.json', os.path.join(gw.data, 'PLINK', 'gone'))  # through a symlink: says nothing
    with open(os.path.join(series_maps, '1.9.4.json'), 'w') as handle:
        handle.write('not json')
    summary = run(gw, days=0, file_first=False)
    assert summary['maps_removed'] == 1
    assert sorted(os.listdir(series_maps)) == sorted(kept + ['1.9.2.json', '1.9.3.json', '1.9.4.json'])


def test_a_data_dir_inside_the_tmp_dir_is_refused(tmp_path, capsys):
    (tmp_path / 'tmp' / 'data').mkdir(parents=True)
    (tmp_path / 'log').mkdir()
    path = str(tmp_path / 'c.json')
    with open(path, 'w') as handle:
        json.dump({'tmp_dir': str(tmp_path / 'tmp'), 'log_dir': str(tmp_path / 'log'),
                   'data_dir': str(tmp_path / 'tmp' / 'data')}, handle)
    assert housekeeping.main(['--config', path]) == 2
    assert 'lies inside' in capsys.readouterr().err


def test_main_prints_counts_only(tmp_path, gw, study, capsys):
    filed(gw, study, tmp_path, 'A')
    assert housekeeping.main(['--config', gw.config_file, '--json']) == 0
    out = capsys.readouterr().out
    summary = json.loads(out.splitlines()[-1])
    assert summary['filer_pass'] == 'done' and summary['kept_recent'] == 1
    assert (summary['queued'], summary['stranded'], summary['quarantined_instances']) == (0, 0, 0)
    assert str(tmp_path) not in out and 'PA' not in out
    assert housekeeping.main(['--config', gw.config_file, '--dry-run', '--no-filer-pass']) == 0
    assert capsys.readouterr().out.startswith('housekeeping: would remove 0 filed association dir(s); kept 1 recent')


# Nothing received that a record does not account for is removed ------------------------------------

def age(path, seconds):
    when = time.time() - seconds
    for root, dirs, files in os.walk(path):
        for name in dirs + files + ['']:
            os.utime(os.path.join(root, name), (when, when), follow_symlinks=False)


def filed_copies(gw, sop_uid):
    return [name for _root, _dirs, files in os.walk(gw.data) for name in files if name.endswith(sop_uid + '.dcm')]


def test_a_px_listen_dir_that_received_more_after_filing_is_kept_and_filed_again(make_gateway, study):
    """px-listen without the lean launcher's lock: the filer took the dir while px-listen was still
    receiving (dimse_timeout can exceed refile_after_minutes), then one more instance arrived."""
    gw = make_gateway(receiver='px-listen', min_age_hours=0)
    one = study()
    series = one.add_series()
    uuid_dir = gw.path('0b7f3c2e-1d2a-4c3b-9e8f-112233445566')
    sub = os.path.join(uuid_dir, 'PACSGATE.TEST_20261201_120000')
    one.write(sub, series, 2)
    age(uuid_dir, 3600)
    assert gw.file_once() == 0
    first = records.read_json(os.path.join(uuid_dir, records.RECORD))
    assert first['filed'] == 2
    late = one.write(sub, series, 1, first=3)[0]
    summary = run(gw, days=1)  # the filer pass comes first: the late file is not untouched for 5 min yet
    assert (summary['removed'], summary['kept_changed']) == (0, 1)
    assert os.path.exists(os.path.join(sub, late)) and not filed_copies(gw, late[3:])
    age(uuid_dir, 600)
    assert gw.file_once() == 0
    second = records.read_json(os.path.join(uuid_dir, records.RECORD))
    assert (second['instances'], second['filed'], second['present']) == (3, 3, 2)
    assert len(filed_copies(gw, late[3:])) == 1
    stats = gw.stats()
    assert (stats['associations_filed'], stats['instances_filed']) == (1, 3)
    summary = run(gw, days=1, file_first=False)
    assert (summary['removed'], summary['kept_changed']) == (1, 0)
    assert not os.path.exists(uuid_dir)


def test_a_filed_dir_holding_an_unrecorded_or_changed_file_is_kept(tmp_path, gw, study):
    extra, resized = filed(gw, study, tmp_path, 'EXTRA'), filed(gw, study, tmp_path, 'RESIZED')
    with open(gw.path('filed', extra, 'CT.1.2.3.4.5'), 'wb') as handle:
        handle.write(b'received after filing')
    with open(gw.path('filed', resized, gw.record(resized)['files'][0]['name']), 'ab') as handle:
        handle.write(b'grown')
    summary = run(gw, file_first=False)
    assert (summary['removed'], summary['kept_changed']) == (0, 2)
    assert os.path.isdir(gw.path('filed', extra)) and os.path.isdir(gw.path('filed', resized))


def test_a_px_listen_dir_whose_lock_is_held_is_kept(tmp_path, make_gateway, study):
    from conftest import hold_lock
    gw = make_gateway(receiver='px-listen', min_age_hours=0)
    one = study()
    uuid_dir = gw.path('5c6d7e8f-1a2b-4c3d-8e4f-5a6b7c8d9e0f')
    one.write(os.path.join(uuid_dir, 'SUB'), one.add_series(), 2)
    age(uuid_dir, 3600)
    assert gw.file_once() == 0 and os.path.exists(os.path.join(uuid_dir, records.RECORD))
    fd = hold_lock(os.path.join(uuid_dir, '.lock'))  # px-listen (lean launcher) still running
    try:
        summary = run(gw, days=1, file_first=False)
    finally:
        os.close(fd)
    assert (summary['removed'], summary['kept_in_use']) == (0, 1) and os.path.isdir(uuid_dir)
    assert run(gw, days=1, file_first=False)['removed'] == 1


def test_the_removal_leaves_a_file_received_meanwhile(tmp_path, make_gateway, study):
    """Received between housekeeping's check and its removal: the removal unlinks only what the record
    accounts for, so that file, the record and the dir stay (for the filer to file again)."""
    gw = make_gateway(receiver='px-listen', min_age_hours=0)
    one = study()
    series = one.add_series()
    uuid_dir = gw.path('6d7e8f90-1a2b-4c3d-8e4f-5a6b7c8d9e0f')
    sub = os.path.join(uuid_dir, 'SUB')
    one.write(sub, series, 2)
    with open(os.path.join(uuid_dir, 'debug.log'), 'w') as handle:
        handle.write('storescp output\n')
    age(uuid_dir, 3600)
    assert gw.file_once() == 0
    late = one.write(sub, series, 1, first=3)[0]
    tmp_fd, fd = records.open_dir(gw.tmp), records.open_dir(uuid_dir)
    try:
        record = records.read_record(fd)
        assert not housekeeping.remove_association(tmp_fd, os.path.basename(uuid_dir), fd, record, True)
    finally:
        os.close(fd)
        os.close(tmp_fd)
    left = sorted(os.path.relpath(os.path.join(root, name), uuid_dir) for root, _dirs, files in os.walk(uuid_dir) for name in files)
    assert left == sorted([records.RECORD, os.path.join('SUB', late)])
