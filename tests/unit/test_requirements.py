"""The harness' requirements files (requirements/*.txt): every line a pin, one pin per package
across the files, and test.txt with lint.txt closed over their dependencies, as installed in the
virtualenv these tests run in (scripts/lib.sh builds it from exactly those two files)."""

import importlib.metadata
import os
import re

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
FILES = ('test', 'lint', 'bench')
PIN = re.compile(r'([A-Za-z0-9][A-Za-z0-9._-]*)(\[[a-z0-9,_-]+\])?==([0-9][0-9A-Za-z.+-]*)')


def read_pins(name):
    """{canonical name: (version, extras)} of requirements/<name>.txt; fails on any other line."""
    pins = {}
    with open(os.path.join(ROOT, 'requirements', name + '.txt')) as handle:
        for number, line in enumerate(handle, 1):
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            match = PIN.fullmatch(line)
            assert match, 'requirements/%s.txt:%d is not a pin (name==version): %r' % (name, number, line)
            key = canonicalize_name(match.group(1))
            assert key not in pins, 'requirements/%s.txt pins %s twice' % (name, key)
            extras = set(match.group(2)[1:-1].split(',')) if match.group(2) else set()
            pins[key] = (match.group(3), extras)
    return pins


@pytest.mark.parametrize('name', FILES)
def test_every_line_is_a_pin(name):
    assert read_pins(name)


def test_a_package_in_several_files_has_one_pin():
    seen = {}
    for name in FILES:
        for package, (version, _extras) in read_pins(name).items():
            seen.setdefault(package, {})[name] = version
    differing = {p: v for p, v in seen.items() if len(set(v.values())) > 1}
    assert not differing


def test_the_old_mixed_file_is_gone():
    assert not os.path.exists(os.path.join(ROOT, 'requirements.txt'))


@pytest.mark.parametrize('name', ['test', 'lint'])
def test_pins_are_closed_over_their_dependencies(name):
    """Each pinned package is installed at its pin, and everything it requires is pinned too."""
    pins = read_pins(name)
    problems = []
    for package, (version, extras) in sorted(pins.items()):
        try:
            installed = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            problems.append('%s is not installed in this virtualenv' % package)
            continue
        if installed != version:
            problems.append('%s is %s here, pinned %s' % (package, installed, version))
        for text in importlib.metadata.requires(package) or []:
            req = Requirement(text)
            if req.marker and not any(req.marker.evaluate({'extra': e}) for e in (extras or {''})):
                continue
            dep = canonicalize_name(req.name)
            if dep not in pins:
                problems.append('%s requires %s, which requirements/%s.txt does not pin' % (package, dep, name))
            elif not req.specifier.contains(pins[dep][0], prereleases=True):
                problems.append('%s requires %s, pinned %s' % (package, req, pins[dep][0]))
    assert not problems
