"""Unit tests of dicom_listener_files on real files in tmp_path: what it writes, that a second run
changes nothing, check and diff mode, its checks of new content, and the links it refuses to follow."""

import contextlib
import grp
import io
import json
import os
import pwd
import stat

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.pacsgate.listener.plugins.modules import dicom_listener_files as mod

ME = pwd.getpwuid(os.getuid()).pw_name
MY_GROUP = grp.getgrgid(os.getgid()).gr_name


def run(check=False, diff=False, **params):
    """The module as Ansible runs it, its real exit_json and fail_json masking what is no_log."""
    params = dict(params)
    params['_ansible_check_mode'] = check
    params['_ansible_diff'] = diff
    out = io.StringIO()
    with patch_module_args(params), contextlib.redirect_stdout(out):
        with pytest.raises(SystemExit) as exc:
            mod.main()
    return exc.value.code == 0, json.loads(out.getvalue())


def f(dest, content, mode='0644', **extra):
    item = {'dest': str(dest), 'content': content, 'mode': mode, 'owner': ME, 'group': MY_GROUP}
    item.update(extra)
    return item


def k(dest, content, mode='0600'):
    """A file whose content is a secret."""
    item = f(dest, None, mode, private_content=content)
    del item['content']
    return item


def d(path, mode='0750', **extra):
    item = {'path': str(path), 'mode': mode, 'owner': ME, 'group': MY_GROUP}
    item.update(extra)
    return item


def test_installs_and_a_second_run_changes_nothing(tmp_path):
    etc = tmp_path / 'etc' / 'pacsgate'
    ok, result = run(directories=[d(etc)], files=[f(etc / 'a.json', '{}\n'), f(tmp_path / 'x' / 'prog', 'run\n', '0755')])
    assert ok and result['changed'] and result['changed_paths'] == [str(etc), str(etc / 'a.json'), str(tmp_path / 'x' / 'prog')]
    assert (etc / 'a.json').read_text() == '{}\n' and stat.S_IMODE(os.stat(str(etc / 'a.json')).st_mode) == 0o644
    assert stat.S_IMODE(os.stat(str(etc)).st_mode) == 0o750
    assert stat.S_IMODE(os.stat(str(tmp_path / 'x' / 'prog')).st_mode) == 0o755
    ok, result = run(directories=[d(etc)], files=[f(etc / 'a.json', '{}\n'), f(tmp_path / 'x' / 'prog', 'run\n', '0755')])
    assert ok and not result['changed'] and result['changed_paths'] == []
    assert os.listdir(str(etc)) == ['a.json']  # no temporary file left


def test_a_changed_content_or_mode_is_changed_alone(tmp_path):
    run(files=[f(tmp_path / 'a', 'one\n'), f(tmp_path / 'b', 'two\n')])
    inode = os.stat(str(tmp_path / 'b')).st_ino
    ok, result = run(files=[f(tmp_path / 'a', 'ONE\n'), f(tmp_path / 'b', 'two\n', '0600')])
    assert ok and result['changed_paths'] == [str(tmp_path / 'a'), str(tmp_path / 'b')]
    assert (tmp_path / 'a').read_text() == 'ONE\n'
    assert os.stat(str(tmp_path / 'b')).st_ino == inode and stat.S_IMODE(os.stat(str(tmp_path / 'b')).st_mode) == 0o600


def test_check_mode_changes_nothing_and_diff_shows_the_change(tmp_path):
    run(files=[f(tmp_path / 'a', 'old\n')])
    ok, result = run(check=True, diff=True, directories=[d(tmp_path / 'new')],
                     files=[f(tmp_path / 'a', 'new\n'), k(tmp_path / 'key', 'SECRET\n')])
    expected = {str(tmp_path / 'new'), str(tmp_path / 'a'), str(tmp_path / 'key')}
    assert ok and result['changed'] and set(result['changed_paths']) == expected
    assert (tmp_path / 'a').read_text() == 'old\n' and not (tmp_path / 'new').exists() and not (tmp_path / 'key').exists()
    assert result['diff'] == [{'before_header': str(tmp_path / 'a'), 'after_header': str(tmp_path / 'a'),
                               'before': 'old\n', 'after': 'new\n'}]
    assert 'SECRET' not in repr(result)


def test_new_content_that_fails_its_check_changes_nothing(tmp_path):
    run(files=[f(tmp_path / 'svc', 'good\n')])
    ok, result = run(files=[f(tmp_path / 'svc', 'bad\n', validate='grep -q good %s')])
    assert not ok and 'failed its check' in result['msg']
    assert (tmp_path / 'svc').read_text() == 'good\n'
    assert os.listdir(str(tmp_path)) == ['svc']
    ok, _result = run(files=[f(tmp_path / 'svc', 'still good\n', validate='grep -q good %s')])
    assert ok and (tmp_path / 'svc').read_text() == 'still good\n'


def test_the_check_command_is_never_run_by_a_shell(tmp_path):
    ok, result = run(files=[f(tmp_path / 'svc', 'x\n', validate='test -f %s ; touch ' + str(tmp_path / 'INJECTED'))])
    assert not ok and not (tmp_path / 'INJECTED').exists()


def test_links_are_refused_never_followed(tmp_path):
    target = tmp_path / 'victim'
    target.write_text('keep\n')
    os.chmod(str(target), 0o600)
    (tmp_path / 'file-link').symlink_to(target)
    victim_dir = tmp_path / 'victim-dir'
    victim_dir.mkdir(mode=0o700)
    (tmp_path / 'dir-link').symlink_to(victim_dir)
    ok, result = run(files=[f(tmp_path / 'file-link', 'evil\n', '0666')])
    assert not ok and 'symbolic link' in result['msg']
    ok, result = run(directories=[d(tmp_path / 'dir-link', '0777')])
    assert not ok and 'symbolic link' in result['msg']
    assert target.read_text() == 'keep\n' and stat.S_IMODE(os.stat(str(target)).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(str(victim_dir)).st_mode) == 0o700


def test_absent_removes(tmp_path):
    run(directories=[d(tmp_path / 'tls')], files=[f(tmp_path / 'tls' / 'key', 'k\n'), f(tmp_path / 'old', 'o\n')])
    ok, result = run(directories=[{'path': str(tmp_path / 'tls'), 'state': 'absent'}],
                     files=[{'dest': str(tmp_path / 'old'), 'state': 'absent'}, {'dest': str(tmp_path / 'never'), 'state': 'absent'}])
    assert ok and result['changed_paths'] == [str(tmp_path / 'tls'), str(tmp_path / 'old')]
    assert not (tmp_path / 'tls').exists() and not (tmp_path / 'old').exists()


def test_relative_paths_are_refused(tmp_path):
    ok, result = run(files=[{'dest': 'relative', 'content': 'x'}])
    assert not ok and 'not an absolute path' in result['msg']


def test_absent_removes_files_and_links_never_what_links_point_to(tmp_path):
    (tmp_path / 'file').write_text('x')
    target = tmp_path / 'target'
    target.write_text('keep')
    (tmp_path / 'link').symlink_to(target)
    (tmp_path / 'dir').mkdir()
    ok, result = run(absent=[str(tmp_path / 'file'), str(tmp_path / 'link'), str(tmp_path / 'none')])
    assert ok and result['changed_paths'] == [str(tmp_path / 'file'), str(tmp_path / 'link')]
    assert target.read_text() == 'keep' and not os.path.lexists(str(tmp_path / 'link'))
    ok, result = run(absent=[str(tmp_path / 'dir')])
    assert not ok and 'is a directory' in result['msg']


def test_the_check_command_gets_the_file_its_name_and_directory(tmp_path):
    record = tmp_path / 'record'
    ok, _result = run(files=[f(tmp_path / 'unit.service', 'x\n',
                               validate="sh -c 'echo \"$0 $1 $2\" > %s' %%s %%n %%d" % record)])
    assert ok
    temp, name, directory = record.read_text().split()
    assert name == 'unit.service' and directory == str(tmp_path) and os.path.dirname(temp) == str(tmp_path)
    assert temp != str(tmp_path / 'unit.service')


def test_an_account_still_to_be_made_is_a_change_in_check_mode_and_an_error_otherwise(tmp_path):
    item = f(tmp_path / 'a', 'x\n', owner='pacsgate-no-such-user')
    ok, result = run(check=True, files=[item], directories=[d(tmp_path / 'dir', group='pacsgate-no-such-group')])
    assert ok and set(result['changed_paths']) == {str(tmp_path / 'a'), str(tmp_path / 'dir')}
    ok, result = run(files=[item])
    assert not ok and 'there is no user pacsgate-no-such-user' in result['msg']
    assert not (tmp_path / 'a').exists()


def test_a_directory_swapped_for_a_link_after_the_look_is_not_followed(tmp_path, monkeypatch):
    """Where a directory's parent is writable by someone else, it may become a link between the
    module's look at it and its chown/chmod: those go through a descriptor opened without following,
    so the link's target is left alone."""
    victim = tmp_path / 'victim'
    victim.mkdir(mode=0o700)
    path = tmp_path / 'log'
    path.mkdir(mode=0o755)
    real_lstat = mod._lstat

    def lstat_then_swap(name):
        result = real_lstat(name)
        if name == str(path):
            path.rmdir()
            path.symlink_to(victim)
        return result
    monkeypatch.setattr(mod, '_lstat', lstat_then_swap)
    ok, result = run(directories=[d(path, '0750')])
    assert not ok
    assert stat.S_IMODE(os.stat(str(victim)).st_mode) == 0o700


def test_a_diff_shows_the_content_and_a_private_content_is_masked_everywhere(tmp_path):
    ok, result = run(check=True, diff=True, files=[f(tmp_path / 'svc', 'service dicomlistener\n'),
                                                   k(tmp_path / 'key', 'PRIVATE KEY\n')])
    assert ok and [d['after'] for d in result['diff']] == ['service dicomlistener\n']
    assert 'PRIVATE KEY' not in json.dumps(result)


def test_a_file_needs_exactly_one_of_content_and_private_content(tmp_path):
    both = dict(f(tmp_path / 'a', 'x\n'), private_content='y\n')
    neither = {'dest': str(tmp_path / 'b')}
    for item in (both, neither):
        ok, result = run(files=[item])
        assert not ok and 'give one of content and private_content' in result['msg']
    assert os.listdir(str(tmp_path)) == []
