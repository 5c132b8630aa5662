# Managed by Ansible (pacsgate.listener, role dicom_listener): local changes are overwritten.
"""The gateway-side Python of pacsgate.listener: the collection's plugins/module_utils, installed
once into pypx's virtualenv. Its helpers run as `<venv>/bin/python -I -m pacsgate_listener.<name>`
(filer, housekeeping, metrics, ownership; the xinetd and systemd checks)."""
