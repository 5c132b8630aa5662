"""pacsgate.listener.wheelhouse against this host (Debian 12) as the builder, connection local:
the archive it fetches holds pypx's wheel and a seahash wheel for this Python, only wheels, sorted,
with fixed dates and owners, and a second run fetches the same bytes (the fetch reports no change).

Needs the package index (the builder downloads pypx and its dependencies) and root (the playbook
installs python3-venv); scripts/test.sh runs it as the stage "wheelhouse playbook"."""

import hashlib
import os
import platform
import re
import subprocess
import sys
import tarfile

import pytest
import yaml

ROOT = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
BUILDER_PYTHON = '/usr/bin/python3'


def role_file(*parts):
    with open(os.path.join(ROOT, 'roles', 'dicom_listener', *parts)) as handle:
        return yaml.safe_load(handle)


def run(archive):
    env = dict(os.environ, ANSIBLE_FORCE_COLOR='0', ANSIBLE_NOCOLOR='1')
    proc = subprocess.run(
        [PLAYBOOK, '-i', 'localhost,', '-c', 'local', 'pacsgate.listener.wheelhouse',
         '-e', 'wheelhouse_builder=localhost', '-e', 'wheelhouse_archive=%s' % archive,
         # The builder's Debian Python, not whatever python3 comes first on PATH; this host has no
         # sudo, and the playbook becomes root only to install python3-venv.
         '-e', 'ansible_python_interpreter=%s' % BUILDER_PYTHON, '-e', 'ansible_become_method=su'],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:]
    return proc.stdout


def recap_changed(output, task):
    """Whether the named task reported a change in the output of ansible-playbook."""
    block = output.split('TASK [%s]' % task, 1)[1].split('TASK [', 1)[0]
    return 'changed: [localhost]' in block


@pytest.fixture(scope='module', name='built')
def fixture_built(tmp_path_factory):
    archive = str(tmp_path_factory.mktemp('wheelhouse') / 'site' / 'wheelhouse-bookworm.tar')
    first = run(archive)
    with open(archive, 'rb') as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    return archive, first, digest


def test_the_archive_holds_pypx_and_seahash_wheels(built):
    archive, output, _digest = built
    version = role_file('defaults', 'main.yml')['dicom_listener_pypx_version']
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert [n for n in names if re.fullmatch(r'pypx-%s-py3-none-any\.whl' % re.escape(version), n)], names
    # This builder's Python and architecture decide which seahash the gateways need, as the role decides.
    constants = role_file('vars', 'main.yml')
    pyver = subprocess.run([BUILDER_PYTHON, '-c', 'import sys; print("%d.%d" % sys.version_info[:2])'],
                           stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout.strip()
    pypi_has_wheel = (platform.machine() in constants['_dicom_listener_seahash_wheel_arches']
                      and pyver in constants['_dicom_listener_seahash_wheel_pythons'])
    seahash = [n for n in names if n.startswith('seahash-')]
    if pypi_has_wheel:
        assert len(seahash) == 1 and seahash[0].startswith('seahash-0.2.0-cp'), seahash
    else:
        assert constants['_dicom_listener_seahash_wheel'] in seahash, seahash
    assert '%d wheels for pypx %s' % (len(names), version) in output


def test_the_archive_is_flat_sorted_and_fixed(built):
    archive = built[0]
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert len(names) > 20
    assert names == sorted(names)
    assert all(m.isfile() and m.name.endswith('.whl') and '/' not in m.name for m in members)
    assert {(m.uid, m.gid, m.mtime, m.mode) for m in members} == {(0, 0, 0, 0o644)}


def test_a_second_run_fetches_the_same_bytes(built):
    archive, first, digest = built
    assert recap_changed(first, 'Fetch the archive to the controller')
    second = run(archive)
    assert not recap_changed(second, 'Fetch the archive to the controller')
    with open(archive, 'rb') as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == digest


def test_one_builder_only(tmp_path):
    proc = subprocess.run(
        [PLAYBOOK, '-i', 'localhost,127.0.0.1,', '-c', 'local', 'pacsgate.listener.wheelhouse',
         '-e', 'wheelhouse_builder=all', '-e', 'wheelhouse_archive=%s' % (tmp_path / 'w.tar'),
         '-e', 'ansible_python_interpreter=%s' % BUILDER_PYTHON],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert proc.returncode != 0
    assert 'Give exactly one builder host' in proc.stdout
    assert not (tmp_path / 'w.tar').exists()
