#!/usr/bin/env bash
# The main job on an embedded default: one local gateway container, configured with
# playbooks/site.yml, then a sample study sent to it from this host with dcmtk's storescu.
#   scripts/demo.sh          set up (or update) the gateway and send a study; safe to repeat
#   scripts/demo.sh clean    remove the gateway container
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

name=pacsgate-demo-gw
demo="$cache/demo"

if [ "${1:-}" = clean ]; then
  ensure_docker
  docker rm -f "$name" >/dev/null 2>&1 && echo "removed container $name" || echo "no container $name"
  rm -rf "$demo"
  exit 0
fi

# Only the image the demo's gateway runs (Debian 12).
prepare_environment bookworm
mkdir -p "$demo"

if [ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" != true ]; then
  docker rm -f "$name" >/dev/null 2>&1 || true
  log "Starting the gateway container $name ($PACSGATE_IMAGE; systemd boots in a few seconds)"
  docker run -d --name "$name" --hostname "$name" \
    --cap-add SYS_ADMIN --security-opt seccomp=unconfined --cgroupns=host \
    -v /sys/fs/cgroup:/sys/fs/cgroup:rw -v "$PACSGATE_PIP_CACHE:/root/.cache/pip:rw" \
    --tmpfs /run --tmpfs /run/lock "$PACSGATE_IMAGE" /lib/systemd/systemd >/dev/null
  for _ in $(seq 30); do
    state=$(docker exec "$name" systemctl is-system-running 2>/dev/null || true)
    case "$state" in running|degraded) break ;; esac
    sleep 1
  done
fi

cat > "$demo/inventory.yml" <<YAML
pacs_gateways:
  hosts:
    $name:
      ansible_connection: community.docker.docker
      ansible_python_interpreter: /usr/bin/python3
      dicom_listener_pip_ca_bundle: "$PACSGATE_PIP_CA_BUNDLE"
      dicom_listener_pacs:
        - {name: demo-pacs, aetitle: DEMO-PACS, host: "$PACSGATE_DOCKER_HOST_IP", port: 104}
YAML

log "Configuring the gateway: ansible-playbook pacsgate.listener.site (about 2 minutes the first time: packages and pypx; seconds afterwards)"
ansible-playbook -i "$demo/inventory.yml" pacsgate.listener.site

ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$name")
port=10402 aet=CHRISLOCAL

log "Sending a sample study (2 series, 25 instances each) to $aet at $ip:$port"
rm -rf "$demo/study"
manifest=$("$venv/bin/python" "$repo/tests/molecule/dicomstudy.py" "$demo/study" --series 2 --per-series 25)
study_uid=$(printf '%s' "$manifest" | "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["study_uid"])')
TCP_NODELAY=1 /usr/bin/storescu -aet DEMO-PACS -aec "$aet" +sd "$ip" "$port" "$demo/study"

count=0
for _ in $(seq 60); do
  count=$(docker exec "$name" sh -c "find /home/dicom/data -path '*$study_uid*' -name '*.dcm' | wc -l")
  [ "$count" -ge 50 ] && break
  sleep 1
done

log "Filed on the gateway ($count of 50 instances):"
docker exec "$name" sh -c "cd /home/dicom/data && for d in */*$study_uid/*/; do
  printf '  /home/dicom/data/%s  %s files, %s\n' \"\$d\" \"\$(ls \"\$d\" | grep -c '\\.dcm\$')\" \"\$(ls \"\$d\" | grep -E 'info|receiving' | tr '\\n' ' ')\"; done"
cat <<TXT

A PACS sends to this gateway with:
  AE title  $aet
  address   $ip
  port      $port
Run 'scripts/demo.sh' again to send another study; 'scripts/demo.sh clean' removes the container.
TXT
[ "$count" -ge 50 ]
