#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 pacsgate.listener maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: dicom_listener_files
short_description: Install the DICOM listener's directories and files in one step
version_added: 0.2.0
description:
  - The dicom_listener role's installer of root-owned directories and files (programs, settings, units,
    service files). Given what each must hold, it compares them all in one call and changes only what
    differs, so that a converge that changes nothing costs one round trip to the gateway, not one per file.
  - Never follows a symbolic link; refuses one where a directory or file is to be.
  - A file is written to a temporary name in its own directory, checked with its O(files[].validate)
    command when it has one, synced and renamed over the old one; a refused file changes nothing.
author:
  - pacsgate.listener maintainers (@pacsgate)
attributes:
  check_mode:
    support: full
    description: Reports what would change, changes nothing.
  diff_mode:
    support: full
    description: Shows the old and new content of each changed text file, except those given as O(files[].private_content).
options:
  directories:
    description: Directories, made or fixed in this order before the files.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path.
        type: path
        required: true
      state:
        description: C(directory), or C(absent) (removed with everything in it).
        type: str
        choices: [directory, absent]
        default: directory
      owner:
        description: Owner (name or uid).
        type: str
        default: root
      group:
        description: Group (name or gid).
        type: str
        default: root
      mode:
        description: Mode, in octal.
        type: str
        default: '0755'
  files:
    description: Files, each with the content it must hold.
    type: list
    elements: dict
    default: []
    suboptions:
      dest:
        description: Absolute path.
        type: path
        required: true
      state:
        description: C(file), or C(absent).
        type: str
        choices: [file, absent]
        default: file
      content:
        description:
          - What the file holds (text), shown in a diff.
          - Give one of O(files[].content) and O(files[].private_content).
        type: str
      private_content:
        description:
          - What the file holds (text) when it is a secret, such as a private key. Never shown in a diff or
            logged.
        type: str
      owner:
        description: Owner (name or uid).
        type: str
        default: root
      group:
        description: Group (name or gid).
        type: str
        default: root
      mode:
        description: Mode, in octal.
        type: str
        default: '0644'
      validate:
        description:
          - A command that must succeed on the new content before it replaces the file. Split into words,
            never run by a shell; the word C(%s) is the path of the temporary file, C(%n) the file's own name
            and C(%d) its directory.
        type: str
  absent:
    description: Files or symbolic links to remove, after the rest (a link is removed, never followed).
    type: list
    elements: path
    default: []
notes:
  - Directories that do not exist above a path are made as root, mode C(0755).
"""

EXAMPLES = r"""
- name: Install a program and its settings
  pacsgate.listener.dicom_listener_files:
    directories:
      - {path: /etc/pacsgate}
    files:
      - dest: /etc/pacsgate/dicomlistener.json
        content: "{{ settings | to_nice_json }}\n"
      - dest: /etc/xinetd.d/dicomlistener
        content: "{{ lookup('ansible.builtin.template', 'xinetd/service.j2') }}"
        validate: /opt/pypx/bin/python -I -m pacsgate_listener.xinetd %s dicomlistener
  register: installed
"""

RETURN = r"""
changed_paths:
  description: The directories and files that were (or in check mode would be) made, changed or removed.
  returned: always
  type: list
  elements: str
  sample: [/etc/xinetd.d/dicomlistener]
"""

import grp
import os
import pwd
import shlex
import shutil
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule

DIFF_LIMIT = 64 * 1024


class Refused(Exception):
    """What the module will not do; the message says why."""


def _uid(name):
    try:
        return int(name) if name.isdigit() else pwd.getpwnam(name).pw_uid
    except KeyError:
        raise Refused('there is no user %s' % name)


def _gid(name):
    try:
        return int(name) if name.isdigit() else grp.getgrnam(name).gr_gid
    except KeyError:
        raise Refused('there is no group %s' % name)


def _owners(item, check):
    """(uid, gid), or None in check mode where the user or group is still to be made (a dry run on a
    new host, whose account task only pretended): then the directory or file would change."""
    try:
        return _uid(item['owner']), _gid(item['group'])
    except Refused:
        if check:
            return None
        raise


def _lstat(path):
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _make_parents(path, check):
    parent = os.path.dirname(path)
    if not check and not os.path.isdir(parent):
        os.makedirs(parent, 0o755)


def _fix_owner_and_mode(path, is_dir, uid, gid, mode):
    """chown and chmod through a descriptor of path opened without following a link: if a link
    was put where path was looked at, the open fails instead of changing what the link points to."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, 'O_CLOEXEC', 0)
    fd = os.open(path, flags | (os.O_DIRECTORY if is_dir else 0))
    try:
        st = os.fstat(fd)
        if is_dir != stat.S_ISDIR(st.st_mode) or (not is_dir and not stat.S_ISREG(st.st_mode)):
            raise Refused('%s changed while it was being set up' % path)
        os.fchown(fd, uid, gid)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def ensure_directory(item, check):
    """Make or fix one directory; True when something (would have) changed."""
    path, st = item['path'], _lstat(item['path'])
    if item['state'] == 'absent':
        if st is None:
            return False
        if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
            raise Refused('%s is not a directory' % path)
        if not check:
            shutil.rmtree(path)
        return True
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise Refused('%s is %s, not a directory; it is not followed or replaced'
                      % (path, 'a symbolic link' if stat.S_ISLNK(st.st_mode) else 'a file'))
    owners, mode = _owners(item, check), int(item['mode'], 8)
    if owners is None:
        return True
    uid, gid = owners
    if st is not None and (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (uid, gid, mode):
        return False
    if check:
        return True
    if st is None:
        _make_parents(path, check)
        os.mkdir(path, 0o700)
    _fix_owner_and_mode(path, True, uid, gid, mode)
    return True


def _read(path):
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, 'O_CLOEXEC', 0))
    with os.fdopen(fd, 'rb') as handle:
        return handle.read()


def _validate(module, command, path, dest):
    words = {'%s': path, '%n': os.path.basename(dest), '%d': os.path.dirname(dest)}
    argv = [words.get(word, word) for word in shlex.split(command)]
    rc, out, err = module.run_command(argv)
    if rc != 0:
        raise Refused('the new content failed its check (%s): %s' % (command, (err or out).strip()))


def _write(module, item, data, uid, gid, mode):
    dest = item['dest']
    _make_parents(dest, False)
    fd, temp = tempfile.mkstemp(prefix='.' + os.path.basename(dest) + '.', dir=os.path.dirname(dest))
    try:
        with os.fdopen(fd, 'wb') as handle:
            handle.write(data)
            handle.flush()
            os.fchown(handle.fileno(), uid, gid)
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        if item['validate']:
            _validate(module, item['validate'], temp, dest)
        os.rename(temp, dest)
    except BaseException:
        if os.path.lexists(temp):
            os.unlink(temp)
        raise
    dir_fd = os.open(os.path.dirname(dest), os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def ensure_file(module, item, check, diffs):
    """Write, fix or remove one file; True when something (would have) changed."""
    dest, st = item['dest'], _lstat(item['dest'])
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise Refused('%s is %s, not a regular file; it is not followed or replaced'
                      % (dest, 'a symbolic link' if stat.S_ISLNK(st.st_mode) else 'a directory or device'))
    if item['state'] == 'absent':
        if st is not None and not check:
            os.unlink(dest)
        return st is not None
    private = item['private_content'] is not None
    if private == (item['content'] is not None):
        raise Refused('%s: give one of content and private_content' % dest)
    text = item['private_content'] if private else item['content']
    data = text.encode('utf-8')
    owners, mode = _owners(item, check), int(item['mode'], 8)
    if owners is None:
        return True
    uid, gid = owners
    old = _read(dest) if st is not None else None
    if old == data:
        if (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (uid, gid, mode):
            return False
        if not check:
            _fix_owner_and_mode(dest, False, uid, gid, mode)
        return True
    if module._diff and not private and len(data) <= DIFF_LIMIT and (old is None or len(old) <= DIFF_LIMIT):
        diffs.append({'before_header': dest, 'after_header': dest,
                      'before': (old or b'').decode('utf-8', 'replace'), 'after': text})
    if not check:
        _write(module, item, data, uid, gid, mode)
    return True


def remove(path, check):
    """Remove a file or a link (not a directory); True when it was there."""
    st = _lstat(path)
    if st is None:
        return False
    if stat.S_ISDIR(st.st_mode):
        raise Refused('%s is a directory; only files and links are removed this way' % path)
    if not check:
        os.unlink(path)
    return True


def main():
    module = AnsibleModule(
        argument_spec=dict(
            directories=dict(type='list', elements='dict', default=[], options=dict(
                path=dict(type='path', required=True),
                state=dict(type='str', default='directory', choices=['directory', 'absent']),
                owner=dict(type='str', default='root'),
                group=dict(type='str', default='root'),
                mode=dict(type='str', default='0755'),
            )),
            files=dict(type='list', elements='dict', default=[], options=dict(
                dest=dict(type='path', required=True),
                state=dict(type='str', default='file', choices=['file', 'absent']),
                content=dict(type='str'),
                private_content=dict(type='str', no_log=True),
                owner=dict(type='str', default='root'),
                group=dict(type='str', default='root'),
                mode=dict(type='str', default='0644'),
                validate=dict(type='str'),
            )),
            absent=dict(type='list', elements='path', default=[]),
        ),
        supports_check_mode=True,
    )
    changed, diffs = [], []
    try:
        for item in module.params['directories']:
            if not os.path.isabs(item['path']):
                raise Refused('%s is not an absolute path' % item['path'])
            if ensure_directory(item, module.check_mode):
                changed.append(item['path'])
        for item in module.params['files']:
            if not os.path.isabs(item['dest']):
                raise Refused('%s is not an absolute path' % item['dest'])
            if ensure_file(module, item, module.check_mode, diffs):
                changed.append(item['dest'])
        for path in module.params['absent']:
            if not os.path.isabs(path):
                raise Refused('%s is not an absolute path' % path)
            if remove(path, module.check_mode):
                changed.append(path)
    except (Refused, KeyError, ValueError, OSError) as exc:
        module.fail_json(msg='dicom_listener_files: %s' % exc, changed_paths=changed)
    result = dict(changed=bool(changed), changed_paths=changed)
    if module._diff:
        result['diff'] = diffs
    module.exit_json(**result)


if __name__ == '__main__':
    main()
