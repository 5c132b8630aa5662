# -*- coding: utf-8 -*-
# Copyright (c) 2026 pacsgate.listener maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""dicom_listener_info checks the options that name things with the role's validators
(module_utils/validate.py), before it reads or runs anything."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.pacsgate.listener.plugins.modules import dicom_listener_info as mod


class Failed(Exception):
    pass


class Ran(Exception):
    pass


@pytest.fixture
def module(monkeypatch):
    def fail_json(self, **kwargs):
        raise Failed(kwargs)

    def ran(self, *args, **kwargs):
        raise Ran(args)
    monkeypatch.setattr(basic.AnsibleModule, 'fail_json', fail_json)
    monkeypatch.setattr(basic.AnsibleModule, 'run_command', ran)
    monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path', ran)

    def run(**params):
        with patch_module_args(params):
            with pytest.raises((Failed, Ran)) as exc:
                mod.main()
        return exc.value
    return run


@pytest.mark.parametrize('params,name', [
    ({'service_name': 'dicom.listener'}, 'service_name'),
    ({'service_name': 'dicomlistener\n'}, 'service_name'),
    ({'service_name': '../etc/passwd'}, 'service_name'),
    ({'aetitle': 'CHRISLOCAL\n'}, 'aetitle'),
    ({'calling_aetitle': ''}, 'calling_aetitle'),
    ({'calling_aetitle': 'THIS_AE_TITLE_IS_TOO_LONG'}, 'calling_aetitle'),
    ({'calling_aetitle': 'CHECK\u2028'}, 'calling_aetitle'),
    ({'host': '127.0.0.1\n'}, 'host'),
    ({'host': 'fe80::1%eth0'}, 'host'),
    ({'host': '-oProxyCommand=x'}, 'host'),
    ({'timeout': 0}, 'timeout'),
    ({'min_free_percent': 101}, 'min_free_percent'),
])
def test_bad_options_are_refused_before_anything_runs(module, params, name):
    outcome = module(**params)
    assert isinstance(outcome, Failed), outcome
    problems = outcome.args[0]['problems']
    assert len(problems) == 1 and problems[0].startswith(name + ':'), problems
    assert outcome.args[0]['msg'] == problems[0]


def test_every_problem_is_reported(module):
    outcome = module(calling_aetitle='', host='10.0.0.1/8', service_name='a b')
    assert [p.split(':')[0] for p in outcome.args[0]['problems']] == ['service_name', 'calling_aetitle', 'host']


def test_good_options_reach_the_gateway(module):
    outcome = module(calling_aetitle='PACSGATE-CHECK', host='::1', service_name='dicom_listener-2', timeout=3600,
                     min_free_percent=0)
    assert isinstance(outcome, Ran)


def test_the_earlier_verify_call_is_accepted(module):
    """The verify step's call before it passed config and show_paths."""
    outcome = module(backend='xinetd', service_name='dicomlistener', xinetd_dir='/etc/xinetd.d',
                     unit_dir='/etc/systemd/system', aetitle='CHRISLOCAL', calling_aetitle='PACSGATE-CHECK',
                     host='127.0.0.1', echo=True, timeout=30, health=False)
    assert isinstance(outcome, Ran)


def test_the_role_s_verify_call_is_accepted(module):
    """roles/dicom_listener/tasks/verify.yml passes these options."""
    outcome = module(backend='systemd', service_name='dicomlistener', xinetd_dir='/etc/xinetd.d',
                     unit_dir='/etc/systemd/system', config='/etc/pacsgate/dicomlistener.json',
                     calling_aetitle='PACSGATE-CHECK', host='127.0.0.1', echo=True, timeout=30, show_paths=False)
    assert isinstance(outcome, Ran)
