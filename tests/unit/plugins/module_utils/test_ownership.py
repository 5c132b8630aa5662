"""Giving tmp, log and data back to the listener (plugins/module_utils/ownership.py), as root."""

import json
import os

import pytest

from ansible_collections.pacsgate.listener.plugins.module_utils import ownership

LISTENER = (43210, 43211)  # uid, gid: need not exist


def owners(path):
    found = {}
    for root, dirs, files in os.walk(path):
        for name in dirs + files + ['']:
            full = os.path.join(root, name)
            st = os.lstat(full)
            found[os.path.relpath(full, path)] = (st.st_uid, st.st_gid)
    return found


@pytest.fixture
def dirs(tmp_path, tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip('giving ownership away needs root (the role runs this as root)')
    outside = str(tmp_path_factory.mktemp('outside'))
    with open(os.path.join(outside, 'secret'), 'w') as handle:
        handle.write('root only')
    tops = []
    for name in ('tmp', 'log', 'data'):
        top = str(tmp_path / name)
        os.makedirs(os.path.join(top, 'left', 'by', 'root'))
        with open(os.path.join(top, 'left', 'by', 'root', 'file'), 'w') as handle:
            handle.write('x')
        tops.append(top)
    os.chown(os.path.join(tops[0], 'left'), *LISTENER)  # already the listener's
    os.symlink(outside, os.path.join(tops[0], 'link-to-dir'))
    os.symlink(os.path.join(outside, 'secret'), os.path.join(tops[1], 'link-to-file'))
    os.link(os.path.join(outside, 'secret'), os.path.join(tops[2], 'hard-link'))
    return tops, outside


def test_everything_is_given_back_without_following_links(dirs):
    tops, outside = dirs
    before = owners(outside)
    summary = ownership.give_back(tops, *LISTENER)
    assert summary == {'changed': 16, 'checked': 18, 'skipped_hard_links': 1}
    for top in tops:
        found = owners(top)
        found.pop('hard-link', None)
        assert set(found.values()) == {LISTENER}
    assert os.lstat(os.path.join(tops[0], 'link-to-dir')).st_uid == LISTENER[0]  # the link itself
    assert owners(outside) == before  # nothing behind a link changed
    assert ownership.give_back(tops, *LISTENER)['changed'] == 0


def test_check_changes_nothing(dirs):
    tops, _outside = dirs
    before = [owners(top) for top in tops]
    assert ownership.give_back(tops, *LISTENER, check=True)['changed'] == 16
    assert [owners(top) for top in tops] == before


def test_a_top_dir_that_is_a_symlink_is_refused(dirs, tmp_path):
    tops, outside = dirs
    os.rename(tops[1], str(tmp_path / 'log.real'))
    os.symlink(outside, tops[1])
    before = [owners(tops[0]), owners(outside)]
    with pytest.raises(ownership.Refused) as refused:
        ownership.give_back(tops, *LISTENER)
    assert 'is a symlink' in str(refused.value)
    assert [owners(tops[0]), owners(outside)] == before  # refused before anything changed


def test_main(dirs, tmp_path, capsys):
    tops, _outside = dirs
    config = str(tmp_path / 'c.json')
    with open(config, 'w') as handle:
        json.dump(dict(zip(('tmp_dir', 'log_dir', 'data_dir'), tops)), handle)
    args = ['--config', config, '--user', str(LISTENER[0]), '--group', str(LISTENER[1])]
    assert ownership.main(args + ['--check']) == 0
    assert json.loads(capsys.readouterr().out)['changed'] == 16
    assert ownership.main(args) == 0
    assert json.loads(capsys.readouterr().out)['changed'] == 16
    assert ownership.main(args + ['--check']) == 0
    assert json.loads(capsys.readouterr().out) == {'changed': 0, 'checked': 18, 'skipped_hard_links': 1}
    assert ownership.main(['--config', config, '--user', 'no-such-user-here', '--group', 'root']) == 2
