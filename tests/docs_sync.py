"""Check that every role variable is documented once and consistently.

meta/argument_specs.yml is the reference: its options must be exactly the keys of
defaults/main.yml, with the same default values, and the README must mention each of them.
Exits 1 and lists every mismatch.
"""

import pathlib
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent


def check_role(role_dir, readme_text):
    problems = []
    defaults = yaml.safe_load((role_dir / "defaults" / "main.yml").read_text()) or {}
    specs = yaml.safe_load((role_dir / "meta" / "argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"]["options"]
    for name in sorted(set(defaults) - set(options)):
        problems.append("%s: in defaults/main.yml but not in argument_specs" % name)
    for name in sorted(set(options) - set(defaults)):
        if not options[name].get("required"):
            problems.append("%s: in argument_specs but not in defaults/main.yml" % name)
    for name in sorted(set(defaults) & set(options)):
        spec_default = options[name].get("default")
        if spec_default != defaults[name]:
            problems.append("%s: default %r in defaults/main.yml, %r in argument_specs"
                            % (name, defaults[name], spec_default))
        if not options[name].get("description"):
            problems.append("%s: no description in argument_specs" % name)
        if "`%s`" % name not in readme_text:
            problems.append("%s: not documented in README.md" % name)
    return problems


def main():
    readme = (ROOT / "README.md").read_text()
    problems = []
    roles = sorted(p for p in (ROOT / "roles").iterdir() if (p / "defaults" / "main.yml").exists())
    for role_dir in roles:
        problems += ["%s: %s" % (role_dir.name, p) for p in check_role(role_dir, readme)]
    for p in problems:
        print(p)
    print("docs_sync: %d roles checked, %d problems" % (len(roles), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
