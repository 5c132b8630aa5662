"""The receivers the benchmark compares, set up in its containers (tests/perf/bench.py).

In the gateway container, next to the gateway the role deployed (b, port 10402):
  a          a forking bare dcmtk storescp (storescp --fork) with the gateway's storescp options
             and TCP_NODELAY: the reference for everything per association;
  b_nocheck  the same gateway behind a second xinetd service whose gate rules are what the role
             renders with dicom_listener_called_aetitle_check and calling_aetitle_check false;
  nogate     xinetd starting the gateway's storescp directly, without the gate (nothing filed).
In a container of its own: c, Orthanc from Debian's package, TCP_NODELAY in its environment too.
"""

import json
import os
import re

from benchlib import HERE, dexec, run

GW_AET = "CHRISLOCAL"
PORTS = {"a": 11112, "b": 10402, "b_nocheck": 10403, "nogate": 10404, "c": 4242}
AETITLES = {"a": "BARE", "b": GW_AET, "b_nocheck": GW_AET, "nogate": GW_AET, "c": "ORTHANC"}
NAMES = {
    "a": "(a) bare dcmtk storescp --fork",
    "b": "(b) this gateway: xinetd, the gate, storescp, the filer",
    "b_nocheck": "(b) with the AE title checks off",
    "nogate": "xinetd + storescp without the gate (not filed)",
    "c": "(c) Orthanc (Debian package)",
}
SERVICE = "dicomlistener"
GATE_CONFIG = "/etc/pacsgate/%s.gate" % SERVICE
XINETD_SERVICE = "/etc/xinetd.d/%s" % SERVICE
DATA, TMP, LOG = "/home/dicom/data", "/home/dicom/tmp", "/home/dicom/log"
BARE_DIR, NOGATE_DIR = "/bench/a", "/bench/nogate"
ORTHANC_STORAGE = "/var/lib/orthanc-bench"


def without_checks(gate_config):
    """The gate rules with both AE title checks off: any called AE title (`called *`) and every
    peer rule for any calling AE title, as module_utils/gateconf.py renders them when the role's
    dicom_listener_called_aetitle_check and dicom_listener_calling_aetitle_check are false."""
    out = []
    for line in gate_config.splitlines():
        if line.startswith("called "):
            line = "called *"
        elif line.startswith("peer ") or line.startswith("peer-name "):
            key, _aetitle, rest = line.split(" ", 2)
            line = "%s * %s" % (key, rest)
            if line in out:  # two PACS on one host: one rule once their AE titles no longer count
                continue
        out.append(line)
    return "\n".join(out) + ("\n" if gate_config.endswith("\n") else "")


def storescp_argv(gate_config):
    """The receiver's argv the gate execs: its `exec` line and the `arg` lines that follow."""
    argv = []
    for line in gate_config.splitlines():
        if line.startswith("exec "):
            argv = [line[5:]]
        elif line.startswith("arg ") and argv:
            argv.append(line[4:])
    return argv


def xinetd_variant(service_text, name, port, server, server_args):
    """The role's xinetd service under another name and port, starting another server."""
    text = re.sub(r"^service \S+", "service " + name, service_text, flags=re.M)
    for key, value in (("port", str(port)), ("server", server), ("server_args", server_args)):
        text = re.sub(r"^(\s*%s\s*=\s*).*$" % key, lambda m, v=value: m.group(1) + v, text, flags=re.M)
    return text


def setup_gateway_extras(gw):
    """a, b_nocheck and nogate in the gateway container; returns the storescp argv they share."""
    gate = dexec(gw, "cat %s" % GATE_CONFIG).stdout
    service = dexec(gw, "cat %s" % XINETD_SERVICE).stdout
    argv = storescp_argv(gate)
    if not argv or "--inetd" not in argv:
        raise RuntimeError("the gate does not exec storescp --inetd: %r" % argv)
    options = [a for a in argv[1:] if a != "--inetd"]
    dexec(gw, "mkdir -p %s %s && chown dicom:dicom /bench %s %s" % (BARE_DIR, NOGATE_DIR, BARE_DIR, NOGATE_DIR))
    files = {
        "/etc/pacsgate/benchnocheck.gate": without_checks(gate),
        "/etc/xinetd.d/benchnocheck": xinetd_variant(service, "benchnocheck", PORTS["b_nocheck"], "/usr/bin/perl",
                                                     "/usr/local/libexec/pacsgate/pacsgate-gate "
                                                     "/etc/pacsgate/benchnocheck.gate"),
        "/etc/xinetd.d/benchnogate": xinetd_variant(service, "benchnogate", PORTS["nogate"], argv[0],
                                                    " ".join(argv[1:] + ["--output-directory", NOGATE_DIR])),
    }
    for path, text in files.items():
        dexec(gw, "cat > %s <<'EOF'\n%sEOF\nchmod 644 %s" % (path, text if text.endswith("\n") else text + "\n", path))
    dexec(gw, "systemctl restart xinetd && systemctl start pacsgate-filer-%s" % SERVICE)
    # GNU time, for the start-up costs and the health scan.
    dexec(gw, "test -x /usr/bin/time || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive "
              "apt-get install -y -qq --no-install-recommends time >/dev/null; }")
    # The reference: storescp --fork with the options the gate gives the gateway's storescp.
    # Started once per container (its pid in /bench/a.pid).
    dexec(gw, "cd /bench && if test -f a.pid && kill -0 $(cat a.pid) 2>/dev/null; then exit 0; fi; echo $$ > a.pid; "
              "exec %s --fork %s --output-directory %s %d > /bench/a.log 2>&1"
          % (argv[0], " ".join(options), BARE_DIR, PORTS["a"]), env={"TCP_NODELAY": "1"}, detach=True, user="dicom")
    return argv


def clear_bare(gw):
    dexec(gw, "find %s %s -mindepth 1 -delete" % (BARE_DIR, NOGATE_DIR))


def setup_orthanc(name, image):
    run(["docker", "run", "-d", "--name", name, "--hostname", name, image, "sleep", "infinity"])
    dexec(name, "printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && "
                "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "
                "orthanc >/dev/null")
    config = {"Name": "bench", "StorageDirectory": ORTHANC_STORAGE, "IndexDirectory": ORTHANC_STORAGE,
              "DicomAet": "ORTHANC", "DicomPort": PORTS["c"], "HttpPort": 8042, "RemoteAccessAllowed": False,
              "DicomCheckCalledAet": False, "Plugins": [], "StorageCompression": False}
    dexec(name, "mkdir -p /etc/orthanc-bench /bench && cat > /etc/orthanc-bench/orthanc.json <<'EOF'\n%s\nEOF"
          % json.dumps(config, indent=1))
    run(["docker", "cp", os.path.join(HERE, "watch.py"), name + ":/bench/watch.py"])
    dexec(name, "Orthanc /etc/orthanc-bench/ > /var/log/orthanc-bench.log 2>&1", env={"TCP_NODELAY": "1"},
          detach=True)
    return dexec(name, "dpkg-query -W -f '${Version}' orthanc").stdout.strip()


def versions(gw):
    def pkg(name):
        return dexec(gw, "dpkg-query -W -f '${Version}' %s 2>/dev/null || true" % name, check=False).stdout.strip()

    def pip(name):
        return dexec(gw, "/opt/pypx/bin/pip show %s 2>/dev/null | sed -n 's/^Version: //p'" % name,
                     check=False).stdout.strip()
    return {"dcmtk": pkg("dcmtk"), "xinetd": pkg("xinetd"), "perl": pkg("perl-base"), "pypx": pip("pypx"),
            "pydicom": pip("pydicom"), "python": dexec(gw, "python3 -c 'import platform; print(platform.python_version())'")
            .stdout.strip()}
