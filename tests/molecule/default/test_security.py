"""Least privilege, the source access list, limits and timeouts on the converged gateway."""

import json
import os
import socket
import time

import pytest

from harness import FULL_HOST_ONLY, count, journal_with, owners, run_playbook, snapshot

# Expensive: on the Debian 12 gateway only.
testinfra_hosts = FULL_HOST_ONLY

needs_molecule = pytest.mark.skipif("MOLECULE_INVENTORY_FILE" not in os.environ, reason="needs Molecule's inventory")


def service_settings(host, gw):
    settings = {}
    for line in host.file("/etc/xinetd.d/%s" % gw["service_name"]).content_string.splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            settings[key.strip()] = value.strip()
    return settings


def test_only_from_is_loopback_plus_the_declared_pacs(host, gw):
    pacs_hosts = [p["host"] for p in host.ansible.get_variables()["dicom_listener_pacs"]]
    assert service_settings(host, gw)["only_from"].split() == ["127.0.0.1"] + pacs_hosts


def test_undeclared_source_is_refused(host, gw):
    # From inside the gateway to its own Docker address: the source is that address, not in only_from.
    res = host.run("echoscu -aet INTRUDER -aec %s -to 10 %s %s", gw["aetitle"], gw["ip"], str(gw["port"]))
    assert res.rc != 0
    assert "Peer aborted Association" in res.stdout + res.stderr or "refused" in (res.stdout + res.stderr).lower()
    # and xinetd logs the refused host
    refused = "FAIL: %s address from=%s" % (gw["service_name"], gw["ip"])
    assert refused in journal_with(host, "xinetd", refused)


def test_limits(host, gw):
    variables = host.ansible.get_variables()
    settings = service_settings(host, gw)
    assert settings["instances"] == str(variables.get("dicom_listener_instances", 128))
    assert settings["per_source"] == str(variables.get("dicom_listener_per_source", 128))
    assert settings["cps"].split() == [str(n) for n in variables.get("dicom_listener_cps", [200, 5])]


def test_silent_connection_is_closed_by_the_acse_timeout(host, gw):
    timeout = int(host.ansible.get_variables().get("dicom_listener_acse_timeout", 30))
    start = time.monotonic()
    with socket.create_connection((gw["ip"], gw["port"]), timeout=timeout + 30) as sock:
        # Say nothing, as a half-open or stuck peer: the gate gives up after the ACSE timeout and
        # closes the connection.
        while sock.recv(65536):
            pass
    waited = time.monotonic() - start
    assert waited < timeout + 15, "connection held for %.1f s (ACSE timeout %d s)" % (waited, timeout)


@needs_molecule
def test_leftovers_of_a_root_run_are_given_back(host, gw):
    host.run("touch %s/root-left-this.txt && mkdir -p %s/root-dir && touch %s/root-dir/x",
             gw["log_dir"], gw["data_dir"], gw["data_dir"])
    try:
        assert host.file(gw["log_dir"] + "/root-left-this.txt").user == "root"
        _out, recap = run_playbook("pacsgate.listener.site", "--tags", "service_mkdirs")
        assert "changed=1" in recap, recap
        for path in (gw["log_dir"] + "/root-left-this.txt", gw["data_dir"] + "/root-dir", gw["data_dir"] + "/root-dir/x"):
            f = host.file(path)
            assert (f.user, f.group) == (gw["user"], gw["group"]), path
    finally:
        host.run("rm -rf %s/root-left-this.txt %s/root-dir", gw["log_dir"], gw["data_dir"])


# Everything the role must refuse, with the words its message must contain. Values are JSON, given
# with -e, so that strings with newlines (attempts to inject xinetd attributes) arrive intact. (The
# unit tests of plugins/module_utils/validate.py try over 200 more; here each must also leave the
# gateway untouched.)
BAD_INPUTS = [
    ("dicom_listener_user", '"root"', "dicom_listener_user is root"),
    ("dicom_listener_user", '"root\\n"', "dicom_listener_user"),
    ("dicom_listener_aetitle", '"CHRISLOCAL\\n"', "dicom_listener_aetitle"),
    ("dicom_listener_bind_address", '"0.0.0.0\\n"', "dicom_listener_bind_address"),
    ("dicom_listener_service_name", '"dicomlistener\\n"', "dicom_listener_service_name"),
    ("dicom_listener_xinetd_opts", '["-stayalive\\n"]', "dicom_listener_xinetd_opts"),
    ("dicom_listener_data_dir", '"/srv/100%/data"', "dicom_listener_data_dir"),
    ("dicom_listener_base_dir", '"/tmp"', "dicom_listener_base_dir"),
    ("dicom_listener_data_dir", '"/var/log"', "dicom_listener_data_dir"),
    ("dicom_listener_host_ip_env_file", '"/home/dicom/data/host_ip.env"', "dicom_listener_host_ip_env_file"),
    ("dicom_listener_venv_dir", '"/home/dicom/tmp/venv"', "dicom_listener_venv_dir"),
    ("dicom_listener_housekeeping_schedule", '"hourly\\nExecStart=/bin/sh"', "dicom_listener_housekeeping_schedule"),
    ("dicom_listener_pip_index_url", '"https://pypi.org/simple\\ntrusted-host = evil"', "dicom_listener_pip_index_url"),
    ("dicom_listener_port", '"10_402"', "dicom_listener_port"),
    ("dicom_listener_allowed_sources", '["fe80::1%eth0"]', "dicom_listener_allowed_sources"),
    ("dicom_listener_user", '"Root!"', "dicom_listener_user"),
    ("dicom_listener_group", '"dicom group"', "dicom_listener_group"),
    ("dicom_listener_aetitle", '""', "dicom_listener_aetitle"),
    ("dicom_listener_aetitle", '"THIS_AE_TITLE_IS_TOO_LONG"', "dicom_listener_aetitle"),
    ("dicom_listener_aetitle", '"    "', "dicom_listener_aetitle"),
    ("dicom_listener_aetitle", '"CHRIS\\\\LOCAL"', "dicom_listener_aetitle"),
    ("dicom_listener_aetitle", '"CHRIS\\nport = 1"', "dicom_listener_aetitle"),
    ("dicom_listener_verify_calling_aetitle", '""', "dicom_listener_verify_calling_aetitle"),
    ("dicom_listener_port", "0", "dicom_listener_port"),
    ("dicom_listener_port", "70000", "dicom_listener_port"),
    ("dicom_listener_port", '"abc"', "dicom_listener_port"),
    ("dicom_listener_bind_address", '"0.0.0.0\\nonly_from = 0.0.0.0/0"', "dicom_listener_bind_address"),
    ("dicom_listener_bind_address", '"gateway.example.org"', "dicom_listener_bind_address"),
    ("dicom_listener_service_name", '"dicom.listener"', "dicom_listener_service_name"),
    ("dicom_listener_base_dir", '"relative/path"', "dicom_listener_base_dir"),
    ("dicom_listener_data_dir", '"/home/dicom/../etc"', "dicom_listener_data_dir"),
    ("dicom_listener_tmp_dir", '"/home/dicom/tmp\\nserver = /bin/sh"', "dicom_listener_tmp_dir"),
    ("dicom_listener_log_dir", '"/home/dicom/my log"', "dicom_listener_log_dir"),
    ("dicom_listener_px_listen_link", '"/usr/local/bin/px listen"', "dicom_listener_px_listen_link"),
    ("dicom_listener_pacs", '[{"name": "x", "aetitle": "X", "host": "10.0.0.1"}]', "port"),
    ("dicom_listener_pacs", '[{"name": "x", "aetitle": "AN_AE_TITLE_TOO_LONG", "host": "10.0.0.1", "port": 104}]',
     "dicom_listener_pacs"),
    ("dicom_listener_pacs", '[{"name": "x", "aetitle": "X", "host": "10.0.0.1", "port": 0}]', "dicom_listener_pacs"),
    ("dicom_listener_pacs", '[{"name": "x", "aetitle": "X", "host": "10.0.0.256", "port": 104}]',
     "xinetd deny every sender"),
    ("dicom_listener_allowed_sources", '["10.0.0.300"]', "xinetd deny every sender"),
    ("dicom_listener_allowed_sources", '["10.1.0.0/33"]', "xinetd deny every sender"),
    ("dicom_listener_allowed_sources", '["pacs host"]', "xinetd deny every sender"),
    ("dicom_listener_cps", "[0, 5]", "dicom_listener_cps"),
    ("dicom_listener_per_source", "1000", "per_source at most instances"),
    ("dicom_listener_state", '"gone"', "dicom_listener_state"),
    ("dicom_listener_xinetd_opts", '["-stayalive", "-limit 5\\nINETD_COMPAT=Yes"]', "dicom_listener_xinetd_opts"),
    ("dicom_listener_xinetd_opts", '["-limit", "5"]', "must hold -stayalive"),
]
# What the role writes (the running listener writes in its tmp, log and data dirs: their owners and
# modes are watched, not their contents).
WATCHED = ("/etc/xinetd.d", "/etc/pacsgate", "/etc/systemd/system", "/etc/default/xinetd", "/home/dicom/services",
           "/opt/pypx", "/usr/local/libexec/pacsgate", "/usr/local/bin")
LISTENER_DIRS = ("/home/dicom", "/home/dicom/tmp", "/home/dicom/log", "/home/dicom/data")


def state(host):
    return snapshot(host, *WATCHED), owners(host, *LISTENER_DIRS)


# Refused only against other variables (the listener's tree, instances): tried each on its own, so
# that another bad value in the same run cannot hide the relation.
ALONE = ("dicom_listener_venv_dir", "dicom_listener_host_ip_env_file", "dicom_listener_per_source")
# Refused by Ansible's check of meta/argument_specs.yml (a type, a choice, a required key), which
# runs before the role's first task and so before preflight could name the other bad values of a run.
ALONE_VALUES = (("dicom_listener_port", '"abc"'), ("dicom_listener_state", '"gone"'),
                ("dicom_listener_pacs", '[{"name": "x", "aetitle": "X", "host": "10.0.0.1"}]'))


def refusals(out):
    """What the failed tasks said: their msg and Ansible's argument errors, without the rest of
    the result (a failed argument check also prints every variable's description, which would
    name every variable)."""
    said = []
    for line in out.splitlines():
        if "FAILED! => {" in line:
            result = json.loads(line.split("FAILED! => ", 1)[1])
            msg = result.get("msg", "")
            said.extend(str(m) for m in (msg if isinstance(msg, list) else [msg]))
            said.extend(str(error) for error in result.get("argument_errors", []))
    return "\n".join(said)


def rounds(cases):
    """The cases in as few runs as possible: one value per variable in a run, all refused at once
    (preflight reports every problem in one message)."""
    runs = []
    for case in cases:
        if case[0] in ALONE or case[:2] in ALONE_VALUES:
            runs.append([case])
            continue
        for run in runs:
            if (run[0][0] not in ALONE and run[0][:2] not in ALONE_VALUES
                    and case[0] not in [other[0] for other in run]):
                run.append(case)
                break
        else:
            runs.append([case])
    return runs


@needs_molecule
@pytest.mark.parametrize("cases", rounds(BAD_INPUTS), ids=lambda cases: "%d-values" % len(cases))
def test_bad_inputs_are_refused_before_anything_changes(host, cases):
    before = state(host)
    values = "{%s}" % ", ".join('"%s": %s' % (name, value) for name, value, _words in cases)
    out, _recap = run_playbook("pacsgate.listener.site", "-e", values, expect_failure=True)
    unchanged = state(host) == before
    said = refusals(out)
    named = [name for name, _value, words in cases if name in said and words in said]
    count("bad inputs", tried=len(cases), refused_with_their_message=len(named),
          changed_a_watched_tree=int(not unchanged))
    assert len(named) == len(cases), ([case for case in cases if case[0] not in named], said[-3000:] or out[-3000:])
    assert unchanged


@needs_molecule
def test_port_of_another_xinetd_service_is_refused(host):
    host.run("printf 'service other\\n{\\n    port = 10555\\n}\\n' > /etc/xinetd.d/other")
    try:
        before = state(host)
        count("bad inputs", tried=1)
        out, _recap = run_playbook("pacsgate.listener.site", "-e", "dicom_listener_port=10555", expect_failure=True)
        message = "already used by another xinetd service in /etc/xinetd.d/other"
        unchanged = state(host) == before
        count("bad inputs", refused_with_their_message=int(message in out), changed_a_watched_tree=int(not unchanged))
        assert message in out
        assert unchanged
    finally:
        host.run("rm -f /etc/xinetd.d/other")


@needs_molecule
def test_root_with_a_trailing_newline_is_refused_under_a_pfdcm_tag(host):
    """Under --tags file_install as well: validation runs whatever the tags."""
    before = state(host)
    count("bad inputs", tried=1)
    out, recap = run_playbook("pacsgate.listener.site", "--tags", "file_install", "-e", '{"dicom_listener_user": "root\\n"}',
                              expect_failure=True)
    unchanged = state(host) == before
    count("bad inputs", refused_with_their_message=int("dicom_listener_user" in out), changed_a_watched_tree=int(not unchanged))
    assert "dicom_listener_user" in out and "changed=0" in recap
    assert unchanged
    assert "user            = dicom" in host.file("/etc/xinetd.d/dicomlistener").content_string


def test_bad_input_table_is_large_enough():
    assert len(BAD_INPUTS) >= 40


VALIDATE = "/opt/pypx/bin/python -I -m pacsgate_listener.xinetd %s dicomlistener"


def test_validator_accepts_the_live_service_file(host, gw):
    res = host.run(VALIDATE % ("/etc/xinetd.d/%s" % gw["service_name"]))
    assert res.rc == 0, res.stderr


@pytest.mark.parametrize("edit,reason", [
    ("sed '$d'", "closing"),                                              # the final brace lost
    ("sed 's/only_from .*/only_from = 127.0.0.1 10.0.0.300/'", "10.0.0.300"),  # xinetd would deny everyone
    ("sed 's/^    port .*/    port = 70000/'", "port"),
    ("sed 's/^    wait .*/    wiat = no/'", "wiat"),
    ("sed 's/^service dicomlistener/service other/'", "dicomlistener"),
])
def test_validator_rejects_what_xinetd_would_drop(host, gw, edit, reason):
    bad = "/tmp/pacsgate-bad-service"
    host.run("%s /etc/xinetd.d/%s > %s" % (edit, gw["service_name"], bad))
    try:
        res = host.run(VALIDATE % bad)
        assert res.rc == 1 and reason in res.stderr, res.stderr
    finally:
        host.run("rm -f %s" % bad)


@needs_molecule
def test_check_diff_shows_the_change_and_changes_nothing(host, gw):
    before = state(host)
    out, recap = run_playbook("pacsgate.listener.site", "--check", "--diff", "-e", "dicom_listener_port=10444")
    assert "-    port            = %d" % gw["port"] in out and "+    port            = 10444" in out
    assert "changed=0" not in recap
    assert state(host) == before
    assert host.socket("tcp://0.0.0.0:%d" % gw["port"]).is_listening


# --- the listener cannot make root follow what it can write ---------------------------------------

@needs_molecule
def test_the_listener_cannot_replace_its_directories(host, gw):
    """Its tmp, log and data dirs are entries of the root-owned base dir."""
    res = host.run("runuser -u %s -- mv %s %s.moved", gw["user"], gw["log_dir"], gw["log_dir"])
    assert res.rc != 0 and "Permission denied" in res.stderr
    res = host.run("runuser -u %s -- ln -s /etc %s/evil", gw["user"], gw["base_dir"])
    assert res.rc != 0


@needs_molecule
def test_a_listener_directory_that_is_a_link_is_refused_and_its_target_left_alone(host, gw):
    """As the old layout allowed: log replaced by a link to a root-owned directory. The role refuses
    it, before it changes anything, instead of handing the target to the listener."""
    host.run("install -d -o root -g root -m 0700 /opt/victim && mv %s %s.real && ln -s /opt/victim %s",
             gw["log_dir"], gw["log_dir"], gw["log_dir"])
    try:
        out, _recap = run_playbook("pacsgate.listener.site", expect_failure=True)
        assert "is a symbolic link" in out, out[-2000:]
        victim = host.file("/opt/victim")
        assert (victim.user, victim.group, victim.mode) == ("root", "root", 0o700)
    finally:
        host.run("rm -f %s && mv %s.real %s && rm -rf /opt/victim", gw["log_dir"], gw["log_dir"], gw["log_dir"])


@needs_molecule
def test_links_the_listener_plants_are_not_followed_by_the_give_back(host, gw):
    """A root-owned leftover next to links the listener planted to root-owned files: the give-back
    changes the leftover and the links themselves, never what they point to."""
    host.run("touch %s/root-left && runuser -u %s -- ln -s /etc/shadow %s/shadow-link && "
             "runuser -u %s -- ln -s /usr %s/usr-link", gw["data_dir"], gw["user"], gw["tmp_dir"], gw["user"], gw["tmp_dir"])
    try:
        _out, recap = run_playbook("pacsgate.listener.site", "--tags", "service_mkdirs")
        assert "failed=0" in recap, recap
        assert host.file(gw["data_dir"] + "/root-left").user == gw["user"]
        assert host.file("/etc/shadow").user == "root" and host.file("/usr").user == "root"
        assert host.file("/usr/bin").user == "root"
    finally:
        host.run("rm -f %s/root-left %s/shadow-link %s/usr-link", gw["data_dir"], gw["tmp_dir"], gw["tmp_dir"])
