"""Unit tests of plugins/module_utils/systemd_units.py with units as the role renders them and
recorded `systemctl show` output."""

import os

import pytest

from ansible_collections.pacsgate.listener.plugins.module_utils import systemd_units

# What the role renders with its defaults and one PACS at 10.1.2.3.
SOCKET = """\
# Managed by Ansible (pacsgate.listener, role dicom_listener): local changes are overwritten.
[Unit]
Description=DICOM listener dicomlistener (AE title CHRISLOCAL, port 10402)
OnFailure=dicomlistener-resume.service

[Socket]
ListenStream=0.0.0.0:10402
Accept=yes
MaxConnections=64
MaxConnectionsPerSource=64
TriggerLimitIntervalSec=1s
TriggerLimitBurst=200
IPAddressAllow=127.0.0.1 10.1.2.3
IPAddressDeny=any

[Install]
WantedBy=sockets.target
"""
SERVICE = """\
[Unit]
Description=DICOM association %i of dicomlistener
CollectMode=inactive-or-failed

[Service]
Type=simple
User=dicom
Group=dicom
ExecStart=/usr/local/bin/px-listen -t /home/dicom/tmp -l /home/dicom/log -d /home/dicom/data \\
  -e /usr/local/libexec/pacsgate/dicomlistener-storescp
StandardInput=socket
StandardOutput=socket
Environment=TCP_NODELAY=1
IPAddressAllow=127.0.0.1 10.1.2.3
IPAddressDeny=any
ExecStop=/bin/sh -c 'while kill -0 "$${MAINPID}" 2>/dev/null; do sleep 1; done'
KillMode=mixed
"""
# `systemctl show dicomlistener.socket -p ...` on a gateway (systemd 252).
SHOW_LISTENING = """\
Listen=0.0.0.0:10402 (Stream)
Result=success
NConnections=1
NAccepted=12
NRefused=0
IPAddressAllow=127.0.0.1/32 10.1.2.3/32
IPAddressDeny=::/0 0.0.0.0/0
Id=dicomlistener.socket
LoadState=loaded
ActiveState=active
SubState=listening
UnitFileState=enabled
"""
SHOW_BURST = SHOW_LISTENING.replace("Result=success", "Result=trigger-limit-hit").replace(
    "ActiveState=active", "ActiveState=failed").replace("SubState=listening", "SubState=failed")
SHOW_UNKNOWN = "Id=nosuch.socket\nLoadState=not-found\nActiveState=inactive\nSubState=dead\nUnitFileState=\n"


def test_parse_unit_sections_continuations_and_comments():
    unit = systemd_units.parse_unit(SERVICE)
    assert unit["Service"]["User"] == ["dicom"]
    assert unit["Service"]["ExecStart"] == [
        "/usr/local/bin/px-listen -t /home/dicom/tmp -l /home/dicom/log -d /home/dicom/data "
        "-e /usr/local/libexec/pacsgate/dicomlistener-storescp"]
    assert "Description" in unit["Unit"]
    assert systemd_units.parse_unit("# only\n; comments\n\n") == {}


def test_empty_assignment_resets_a_list():
    unit = systemd_units.parse_unit("[Socket]\nIPAddressAllow=10.0.0.1\nIPAddressAllow=\nIPAddressAllow=10.0.0.2\n")
    assert unit["Socket"]["IPAddressAllow"] == ["10.0.0.2"]


@pytest.mark.parametrize("value,expected", [
    ("0.0.0.0:10402", ("0.0.0.0", 10402)),
    ("10402", ("::", 10402)),
    ("[::]:104", ("::", 104)),
    ("[2001:db8::1]:11112", ("2001:db8::1", 11112)),
    ("192.168.1.5:104", ("192.168.1.5", 104)),
    ("/run/dicom.sock", (None, None)),
    (None, (None, None)),
])
def test_split_listen(value, expected):
    assert systemd_units.split_listen(value) == expected


@pytest.mark.parametrize("value,expected", [
    ("/usr/local/bin/px-listen -t /a -d /b", ("/usr/local/bin/px-listen", "-t /a -d /b")),
    ("-/usr/bin/prog --x", ("/usr/bin/prog", "--x")),
    ("/usr/bin/prog 'two words' 100%% $$HOME", ("/usr/bin/prog", "two words 100% $HOME")),
    ("", (None, "")),
    (None, (None, "")),
])
def test_split_exec(value, expected):
    assert systemd_units.split_exec(value) == expected


def test_environment_takes_several_quoted_assignments():
    assert systemd_units.environment(['TCP_NODELAY=1', 'A="b c" D=e']) == {"TCP_NODELAY": "1", "A": "b c", "D": "e"}
    assert systemd_units.environment(None) == {}


def test_listener_summary_has_the_xinetd_keys():
    summary = systemd_units.listener_summary(SOCKET, SERVICE, "/s", "/t")
    assert (summary["port"], summary["bind"], summary["user"], summary["group"]) == (10402, "0.0.0.0", "dicom", "dicom")
    assert summary["server"] == "/usr/local/bin/px-listen"
    assert summary["server_args"].endswith("-e /usr/local/libexec/pacsgate/dicomlistener-storescp")
    assert summary["only_from"] == ["127.0.0.1", "10.1.2.3"]
    assert summary["deny"] == "any"
    assert (summary["instances"], summary["per_source"]) == (64, 64)
    assert summary["env"] == {"TCP_NODELAY": "1"}
    assert summary["accept"] is True and summary["disable"] is False
    assert summary["kill_mode"] == "mixed"


def test_read_listener_from_files(tmp_path):
    (tmp_path / "dicomlistener.socket").write_text(SOCKET)
    (tmp_path / "dicomlistener@.service").write_text(SERVICE)
    result = systemd_units.read_listener(str(tmp_path), "dicomlistener")
    assert (result["exists"], result["found"], result["error"]) == (True, True, None)
    assert result["path"] == str(tmp_path / "dicomlistener.socket")
    assert result["port"] == 10402


def test_read_listener_without_units_says_which_is_missing(tmp_path):
    (tmp_path / "dicomlistener.socket").write_text(SOCKET)
    result = systemd_units.read_listener(str(tmp_path), "dicomlistener")
    assert (result["exists"], result["found"]) == (True, False)
    assert result["error"] == "no unit %s" % (tmp_path / "dicomlistener@.service")
    result = systemd_units.read_listener(str(tmp_path), "other")
    assert (result["exists"], result["found"]) == (False, False)
    assert "other.socket" in result["error"] and "other@.service" in result["error"]


def test_socket_without_accept_is_not_the_listener(tmp_path):
    (tmp_path / "dicomlistener.socket").write_text(SOCKET.replace("Accept=yes", "Accept=no"))
    (tmp_path / "dicomlistener@.service").write_text(SERVICE)
    result = systemd_units.read_listener(str(tmp_path), "dicomlistener")
    assert result["found"] is False and "Accept=yes" in result["error"]


def test_socket_state_listening():
    state = systemd_units.socket_state(systemd_units.parse_show(SHOW_LISTENING))
    assert state == {"unit": "dicomlistener.socket", "loaded": True, "active": True, "state": "active",
                     "sub_state": "listening", "listening": True, "enabled": True, "result": "success",
                     "accepted": 12, "connections": 1, "refused": 0, "listen": ["0.0.0.0:10402 (Stream)"]}


def test_socket_state_after_a_burst():
    state = systemd_units.socket_state(systemd_units.parse_show(SHOW_BURST))
    assert (state["active"], state["listening"], state["result"]) == (False, False, "trigger-limit-hit")


def test_socket_state_of_an_unknown_unit():
    state = systemd_units.socket_state(systemd_units.parse_show(SHOW_UNKNOWN))
    assert (state["loaded"], state["active"], state["enabled"], state["accepted"]) == (False, False, None, None)
    assert state["listen"] == []


# --- the check the role runs before a unit replaces the live one ------------------------------


class FakeVerify:
    """Stands in for `systemd-analyze verify`: records the staged directory, answers as told."""

    def __init__(self, rc=0, out=''):
        self.rc, self.out, self.staged = rc, out, None

    def __call__(self, argv, **_kwargs):
        self.staged = sorted(os.listdir(os.path.dirname(argv[-1])))
        out = self.out.replace('STAGED', os.path.dirname(argv[-1]))

        class Result:
            returncode, stdout = self.rc, out
        return Result()


def test_unit_check_stages_the_unit_with_its_siblings(tmp_path):
    (tmp_path / 'dicomlistener@.service').write_text('[Service]\n')
    (tmp_path / 'dicomlistener-resume.service').write_text('[Service]\n')
    (tmp_path / 'other.service').write_text('[Service]\n')
    rendered = tmp_path / 'rendered'
    rendered.write_text('[Socket]\nListenStream=1\n')
    fake = FakeVerify()
    assert systemd_units.unit_problems(str(rendered), 'dicomlistener.socket', str(tmp_path), run=fake) == []
    assert fake.staged == ['dicomlistener-resume.service', 'dicomlistener.socket', 'dicomlistener@.service']


def test_unit_check_counts_every_remark_about_the_unit(tmp_path):
    rendered = tmp_path / 'rendered'
    rendered.write_text('[Service]\nBogus=1\n')
    fake = FakeVerify(0, "STAGED/x.service:2: Unknown key name 'Bogus' in section 'Service', ignoring.\n"
                         "/lib/systemd/system/other.service:1: something about another unit\n")
    problems = systemd_units.unit_problems(str(rendered), 'x.service', str(tmp_path / 'none'), run=fake)
    assert len(problems) == 1 and 'Bogus' in problems[0]


def test_unit_check_reports_a_failing_verify(tmp_path):
    rendered = tmp_path / 'rendered'
    rendered.write_text('')
    fake = FakeVerify(1, '')
    assert systemd_units.unit_problems(str(rendered), 'x.service', str(tmp_path), run=fake) == [
        'systemd-analyze verify exited 1']
