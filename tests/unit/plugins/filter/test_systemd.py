"""dicom_listener_systemd_escape: every word of a unit file means exactly itself to systemd.

Quoted words follow the double-quote rules systemd shares with the shell for what the filter
emits, so shlex reads them back as one word."""

import shlex

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.pacsgate.listener.plugins.filter.systemd import systemd_escape


@pytest.mark.parametrize("value, expected", [
    ("/opt/pypx/bin/python", "/opt/pypx/bin/python"),
    ("-I", "-I"),
    ("pacsgate_listener.filer", "pacsgate_listener.filer"),
    ("/srv/100%/data", "/srv/100%%/data"),
    ("/srv/$HOME", "/srv/$$HOME"),
    ("%n", "%%n"),
    ("a b", '"a b"'),
    ('say "hi"', '"say \\"hi\\""'),
    ("back\\slash", '"back\\\\slash"'),
    ("", '""'),
    (10402, "10402"),
])
def test_escapes(value, expected):
    assert systemd_escape(value) == expected


@pytest.mark.parametrize("value", ["a b", 'q"uote', "back\\slash", "it's"])
def test_quoted_words_read_back_as_one_word(value):
    escaped = systemd_escape(value)
    assert shlex.split(escaped) == [value]


@pytest.mark.parametrize("value", ["line\nbreak", "tab\tx", "nul\x00", "bell\x07", "del\x7f", None, True, ["x"]])
def test_refuses_what_a_unit_file_cannot_hold(value):
    with pytest.raises(AnsibleFilterError):
        systemd_escape(value)
