# Installed by scripts/lib.sh as the pip bootstrap script ansible-test looks for in its cache.
"""Stand-in for the get-pip.py bootstrap that ansible-test downloads, for hosts that reach only a
package index: pip comes from the interpreter's own ensurepip (run as a separate process, as it
disables pip's configuration for the process that runs it), then pip installs what ansible-test
asked for from the index."""
import subprocess
import sys

subprocess.check_call([sys.executable, '-m', 'ensurepip', '--upgrade'])
args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
subprocess.check_call([sys.executable, '-m', 'pip', 'install'] + args)
