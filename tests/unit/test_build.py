"""The built collection (ansible-galaxy collection build) holds exactly what its users need: every
file of the roles, plugins, playbooks, meta and docs, the README, LICENSE and changelog; and
nothing of the test harness (scripts, Molecule, tests, requirements, CI, Makefile, caches, the
benchmark's raw data)."""

import os
import subprocess
import sys
import tarfile

import pytest

ROOT = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
USER_DIRS = ('roles/', 'plugins/', 'playbooks/', 'meta/', 'docs/')
USER_FILES = {'README.md', 'LICENSE', 'CHANGELOG.md', 'changelogs/changelog.yaml', 'changelogs/config.yaml'}
HARNESS_DATA = {'docs/bench/results.json'}
HARNESS = ('scripts/', 'molecule/', 'tests/', 'requirements/', '.ci/', 'Makefile', '.cache/', '.ansible',
           '.yamllint', '.gitignore', 'changelogs/fragments/', 'galaxy.yml', 'docs/bench/results.json')
BUILT = {'MANIFEST.json', 'FILES.json'}


def repository_files():
    """The checkout's files as git sees them: tracked, and untracked unless git ignores them."""
    out = subprocess.run(['git', 'ls-files', '-co', '--exclude-standard', '-z'], cwd=ROOT, check=True,
                         stdout=subprocess.PIPE).stdout.decode()
    return {f for f in out.split('\0') if f and os.path.isfile(os.path.join(ROOT, f))}


def wanted(path):
    return (path in USER_FILES or path.startswith(USER_DIRS)) and path not in HARNESS_DATA


@pytest.fixture(scope='module', name='built')
def fixture_built(tmp_path_factory):
    out = tmp_path_factory.mktemp('build')
    galaxy = os.path.join(os.path.dirname(sys.executable), 'ansible-galaxy')
    subprocess.run([galaxy, 'collection', 'build', ROOT, '--output-path', str(out)], check=True,
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    tarballs = list(out.glob('pacsgate-listener-*.tar.gz'))
    assert len(tarballs) == 1
    with tarfile.open(str(tarballs[0])) as tar:
        return {m.name[2:] if m.name.startswith('./') else m.name for m in tar.getmembers() if m.isfile()}


def test_every_file_users_need_is_built(built):
    missing = sorted(f for f in repository_files() if wanted(f) and f not in built)
    assert not missing


def test_nothing_else_is_built(built):
    extra = sorted(f for f in built - BUILT if not wanted(f))
    assert not extra
    assert not [f for f in built if f.startswith(HARNESS)]


def test_the_essentials_are_there(built):
    """Guards the test itself: an empty or odd build must not pass the two above vacuously."""
    assert {'README.md', 'LICENSE', 'CHANGELOG.md', 'meta/runtime.yml', 'playbooks/site.yml',
            'playbooks/status.yml', 'playbooks/wheelhouse.yml', 'roles/dicom_listener/tasks/main.yml',
            'roles/dicom_listener/README.md', 'plugins/modules/dicom_listener_info.py'} <= built
    assert any(f.startswith('docs/') and f.endswith('.md') for f in built)
