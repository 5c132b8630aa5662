"""The Markdown documents: every relative link points at a file of the checkout, the README stays
a user's page and links every document in docs/."""

import glob
import os
import re

import pytest

ROOT = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
LINK = re.compile(r'\]\(([^)\s]+)\)')
DOCS = sorted(['README.md', 'CHANGELOG.md']
              + [os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, 'docs', '*.md'))]
              + [os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, 'roles', '*', 'README.md'))])


def read(rel):
    with open(os.path.join(ROOT, rel)) as handle:
        return handle.read()


@pytest.mark.parametrize('doc', DOCS)
def test_relative_links_resolve(doc):
    broken = []
    for target in LINK.findall(read(doc)):
        if re.match(r'[a-z]+:', target) or target.startswith('#'):
            continue
        path = os.path.normpath(os.path.join(ROOT, os.path.dirname(doc), target.split('#', 1)[0]))
        if not os.path.exists(path):
            broken.append(target)
    assert not broken


def test_the_readme_is_a_users_page():
    lines = read('README.md').splitlines()
    assert len(lines) <= 200, 'README.md has %d lines; details belong in docs/' % len(lines)
    assert lines[0] == '# pacsgate.listener'
    assert '## Install' in lines


def test_docs_are_linked_from_the_readme():
    readme = read('README.md')
    unlinked = [d for d in DOCS if d.startswith('docs/') and '](%s)' % d not in readme]
    assert not unlinked
