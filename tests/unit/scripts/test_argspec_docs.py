"""scripts/argspec_docs.py: the generated variable reference of each role, its --check, and the
agreement of defaults/main.yml with meta/argument_specs.yml; on a made-up role in tmp_path and
on this collection's own role."""

import os
import shutil
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..", "..")
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import argspec_docs  # noqa: E402  pylint: disable=wrong-import-position,import-error

SPECS = """---
argument_specs:
  main:
    short_description: A made-up role
    options:
      demo_port:
        type: int
        default: 104
        description: TCP port; C(0) is refused.
      demo_mode:
        type: str
        default: fast
        choices: [fast, safe]
        description:
          - How it runs, see I(demo_port).
          - A second paragraph with a | bar.
      demo_hosts:
        type: list
        elements: dict
        default: []
        description: Peers.
        options:
          name:
            type: str
            required: true
            description: Peer name.
"""
DEFAULTS = """---
demo_port: 104
demo_mode: fast
demo_hosts: []
"""
META = """---
galaxy_info:
  platforms:
    - name: Debian
      versions: [bookworm, trixie]
"""


@pytest.fixture(name="collection")
def fixture_collection(tmp_path):
    role = tmp_path / "roles" / "demo"
    (role / "meta").mkdir(parents=True)
    (role / "defaults").mkdir()
    (role / "meta" / "argument_specs.yml").write_text(SPECS)
    (role / "meta" / "main.yml").write_text(META)
    (role / "defaults" / "main.yml").write_text(DEFAULTS)
    (role / "README.md").write_text("# demo\n\nWritten by hand.\n")
    return tmp_path


def run(collection, *args):
    return argspec_docs.main(["--root", str(collection)] + list(args))


def test_write_then_check_passes_and_keeps_the_head(collection, capsys):
    assert run(collection, "--check") == 1
    assert run(collection) == 0
    text = (collection / "roles" / "demo" / "README.md").read_text()
    assert text.startswith("# demo\n\nWritten by hand.\n")
    assert "- Debian: bookworm, trixie" in text
    assert "| `demo_mode` | str | `fast` | `fast`, `safe` | How it runs, see `demo_port`.<br>A second paragraph with a \\| bar. |" in text
    assert "| `demo_hosts` | list of dict | `[]` |  | Peers. |" in text
    assert "| `demo_hosts[].name` | str | required |  | Peer name. |" in text
    assert "| `demo_port` | int | `104` |  | TCP port; `0` is refused. |" in text
    capsys.readouterr()
    assert run(collection, "--check") == 0
    # Generating again changes nothing.
    assert run(collection) == 0
    assert (collection / "roles" / "demo" / "README.md").read_text() == text


def test_check_fails_on_a_stale_table(collection, capsys):
    assert run(collection) == 0
    specs = collection / "roles" / "demo" / "meta" / "argument_specs.yml"
    specs.write_text(SPECS.replace("TCP port;", "The TCP port;"))
    capsys.readouterr()
    assert run(collection, "--check") == 1
    out = capsys.readouterr().out
    assert "roles/demo/README.md is not current" in out
    assert "+| `demo_port` | int | `104` |  | The TCP port; `0` is refused. |" in out


def test_a_hand_edit_inside_the_block_is_reported(collection):
    assert run(collection) == 0
    readme = collection / "roles" / "demo" / "README.md"
    readme.write_text(readme.read_text().replace("Peer name.", "Peer name, edited."))
    assert run(collection, "--check") == 1


@pytest.mark.parametrize("defaults, expected", [
    (DEFAULTS.replace("104", "105"), "demo_port: default 105 in defaults/main.yml, 104 in argument_specs"),
    (DEFAULTS + "demo_extra: 1\n", "demo_extra: in defaults/main.yml but not in argument_specs"),
    (DEFAULTS.replace("demo_hosts: []\n", ""), "demo_hosts: in argument_specs but not in defaults/main.yml"),
])
def test_defaults_and_specs_must_agree(collection, capsys, defaults, expected):
    (collection / "roles" / "demo" / "defaults" / "main.yml").write_text(defaults)
    assert run(collection) == 1
    assert "demo: " + expected in capsys.readouterr().out


def test_a_default_outside_its_choices_is_refused(collection, capsys):
    (collection / "roles" / "demo" / "meta" / "argument_specs.yml").write_text(SPECS.replace("default: fast", "default: slow"))
    (collection / "roles" / "demo" / "defaults" / "main.yml").write_text(DEFAULTS.replace("fast", "slow"))
    assert run(collection) == 1
    assert "demo_mode: default ['slow'] not among its choices" in capsys.readouterr().out


def test_a_missing_readme_gets_a_head_and_the_block(collection):
    (collection / "roles" / "demo" / "README.md").unlink()
    assert run(collection) == 0
    text = (collection / "roles" / "demo" / "README.md").read_text()
    assert text.startswith("# demo\n")
    assert argspec_docs.BEGIN in text and argspec_docs.END in text


def test_this_collections_role_reference_is_current(tmp_path):
    """The committed roles/*/README.md are what the script generates (the suite's docs check)."""
    shutil.copytree(os.path.join(ROOT, "roles"), str(tmp_path / "roles"))
    assert run(tmp_path, "--check") == 0
