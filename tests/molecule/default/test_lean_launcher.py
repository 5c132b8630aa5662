"""The lean launcher (dicom_listener_lean_launcher, the default): xinetd starts px-listen's own
script through it without importing the pypx subcommands, pudb and pydicom before storescp runs;
the venv is compiled; the storescp wrapper drops the debug flag; a study sent through it is filed."""

import os
import time

import pytest

from harness import SENDER_AET, dcmtk, dicomstudy, filed_instances

LAUNCHER = "/usr/local/libexec/pacsgate/px_listen_lean.py"
# What `import pypx` (pypx/__init__.py) and pudb pull in, and px-listen does not need to receive.
AVOIDED = ("aiohttp", "dask", "pfstate", "pudb", "urwid", "pypx.find", "pypx.repack", "pydicom")


def service_settings(host, gw):
    text = host.file("/etc/xinetd.d/%s" % gw["service_name"]).content_string
    return dict((k.strip(), v.strip()) for k, v in (line.split("=", 1) for line in text.splitlines()
                                                    if "=" in line and not line.lstrip().startswith("#")))


def test_service_starts_the_launcher(host, gw):
    settings = service_settings(host, gw)
    assert settings["server"] == LAUNCHER
    assert settings["server_args"].split()[0] == "--headers-only"
    launcher = host.file(LAUNCHER)
    assert (launcher.user, launcher.group, launcher.mode) == ("root", "root", 0o755)
    # xinetd gives the server its base name as argv[0]: the interpreter is named in the file.
    assert launcher.content_string.splitlines()[0] == "#!%s/bin/python -I" % gw["venv_dir"]


def importtime(host, gw, *args):
    """Modules one start of `python -I -X importtime ARGS` imports, as the listener's user."""
    res = host.run("cd / && runuser -u %s -- %s/bin/python -I -X importtime %s" % (
        gw["user"], gw["venv_dir"], " ".join(args)))
    names = set()
    for line in res.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return res, names


def test_launcher_avoids_the_heavy_imports(host, gw):
    res, names = importtime(host, gw, LAUNCHER, "--headers-only", "--version")
    assert "Version: 1.2.0" in res.stdout, res.stderr[-2000:]
    # (importtime lists what import statements load: pypx.listen's own imports of pypx.utils and
    # pfmisc.debug's of pfmisc.message show that the real modules ran.)
    assert {"pypx.utils", "pfmisc.message", "terminaltables", "rpudb"} <= names, sorted(names)
    assert not names & set(AVOIDED), sorted(names & set(AVOIDED))


def test_plain_px_listen_imports_them(host, gw):
    # The same measurement on px-listen itself sees every one: the check above can fail.
    res, names = importtime(host, gw, os.path.join(gw["venv_dir"], "bin", "px-listen"), "--version")
    assert "Version: 1.2.0" in res.stdout, res.stderr[-2000:]
    assert set(AVOIDED) <= names, sorted(set(AVOIDED) - names)


def test_launcher_self_check(host, gw):
    res = host.run("cd / && runuser -u %s -- %s --headers-only --check-imports", gw["user"], LAUNCHER)
    assert res.rc == 0 and "avoided modules loaded: none" in res.stdout, res.stdout + res.stderr


def test_venv_is_compiled(host, gw):
    # The listener's user cannot write bytecode into the venv: every module must be compiled.
    assert host.run("runuser -u %s -- test -w %s/bin", gw["user"], gw["venv_dir"]).rc != 0
    script = ("import importlib.util, pathlib, sys; "
              "m = [p for p in pathlib.Path(sys.argv[1]).rglob('*.py') "
              "if not pathlib.Path(importlib.util.cache_from_source(str(p))).exists()]; "
              "print(len(m)); print(*m[:5])")
    res = host.run("%s/bin/python -c %s %s/lib", gw["venv_dir"], script, gw["venv_dir"])
    assert res.rc == 0 and res.stdout.split()[0] == "0", res.stdout


@pytest.fixture(scope="module")
def small_study(host, gw, tmp_path_factory):
    out = tmp_path_factory.mktemp("lean")
    manifest = dicomstudy.make_study(str(out), series=1, per_series=10)
    res = dcmtk("storescu", "-aet", SENDER_AET, "-aec", gw["aetitle"], "+sd", gw["ip"], str(gw["port"]), str(out))
    assert res.returncode == 0, res.stderr
    filed = {}
    for _attempt in range(60):
        filed = filed_instances(host, gw["data_dir"], manifest["study_uid"])
        if len(filed) >= 10:
            break
        time.sleep(1)
    return manifest, filed


def test_study_filed_through_the_launcher(host, small_study):
    manifest, filed = small_study
    (series_uid, instances), = manifest["series"].items()
    assert sorted(filed) == sorted(instances)
    series_dir = os.path.dirname(next(iter(filed.values())))
    assert host.file(os.path.join(series_dir, "series.info")).contains(series_uid)
    for info in ("study.info", "../patient.info"):
        assert host.file(os.path.normpath(os.path.join(series_dir, "..", info))).exists


def test_wrapper_drops_storescp_debug_flag(host, gw):
    # px-listen runs WRAPPER -id -od DIR -pm -sp -d; the wrapper must pass on all but -d.
    settings = service_settings(host, gw)
    args = settings["server_args"].split()
    wrapper = args[args.index("-e") + 1]
    res = host.run("sh -x %s -id -od /nonexistent -pm -sp -d --version", wrapper)
    exec_line = [line for line in res.stderr.splitlines() if line.startswith("+ exec ")]
    assert exec_line, res.stderr
    argv = exec_line[-1].split()
    assert argv[-6:] == ["-id", "-od", "/nonexistent", "-pm", "-sp", "--version"], argv
    assert "-d" not in argv and "--aetitle" in argv
