#!/usr/bin/env bash
# Try the engine that build-current.sh built NEXT TO the host's engine, without touching it: its
# own socket (/run/docker-try.sock), data and exec roots, pidfiles and containerd, no firewall
# rules (--iptables=false --ip6tables=false), no bridge, no IP forwarding change, containers in
# cgroup /docker-try, and dockerd in a network namespace of its own: with --bridge=none, dockerd
# deletes any link named docker0 it sees (removeDefaultBridgeInterface in moby's
# daemon_unix.go), which in the host's namespace would be the host engine's default bridge.
# Starts it with the same code as `scripts/engine/use.sh current`, imports the test image into
# it, runs containers without a network (a plain one, one with docker-init, one under the
# default seccomp profile), checks that the built runc and shim are the ones used, then stops
# it and removes everything it made (processes, mounts, directories, cgroups). Fails unless
# dockerd ran in a network namespace other than the host's (links and iptables are per
# namespace: it could change neither).
#   scripts/engine/smoke.sh        (root; KEEP_LOGS=1 keeps the logs' directory)
# It never creates a network: /run/docker/plugins, where plugins are found, is the host's.
set -euo pipefail
LOG_TAG=dovesnap-engine-smoke
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# shellcheck source=scripts/engine/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TRY=/run/docker-try
CUR_SOCK="${TRY}.sock"
CUR_PIDFILE="${TRY}.pid"
CUR_MARKER="${TRY}.marker"
CUR_LAUNCH_PIDFILE="${TRY}.launch.pid"
CUR_CONTAINERD_PIDFILE="${TRY}.containerd.pid"
CUR_DATA_ROOT=/var/lib/docker-try
CUR_EXEC_ROOT="${TRY}"
CGROUP_PARENT=/docker-try
CUR_DOCKERD_EXTRA_ARGS=(--iptables=false --ip6tables=false --ip-forward=false --bridge=none
  --exec-opt native.cgroupdriver=cgroupfs --cgroup-parent="${CGROUP_PARENT}")
CUR_DOCKERD_WRAPPER=(unshare --net --)
IMAGE=dovesnap-busybox:latest
LOGS=""

try_docker() { "${CURRENT_CLIENT}" -H "unix://${CUR_SOCK}" "$@"; }

# Everything below our roots that is mounted, deepest first.
our_mounts() {
  awk -v a="${CUR_DATA_ROOT}" -v b="${CUR_EXEC_ROOT}" \
    '{ if (index($5, a) == 1 || index($5, b) == 1) print $5 }' /proc/self/mountinfo | sort -r
}

our_pids() { pgrep -f -- "(${CUR_EXEC_ROOT}|${CUR_DATA_ROOT}|${CUR_SOCK})( |/|$)" || true; }

# Stop and remove everything of the try, whatever state it is in. Idempotent.
teardown() {
  local pid mnt dir
  stop_pidfile "try dockerd" "${CUR_PIDFILE}" "${CURRENT_ENGINE_BIN}/dockerd" 60
  stop_pidfile "try dockerd (launch)" "${CUR_LAUNCH_PIDFILE}" "${CURRENT_ENGINE_BIN}/dockerd" 10
  stop_current_containerd
  for pid in $(our_pids); do
    warn "left over after the stop: pid ${pid}: $(cmdline_of "${pid}"); killing it"
    kill -KILL "${pid}" 2>/dev/null || true
  done
  while IFS= read -r mnt; do
    [[ -n "${mnt}" ]] || continue
    log "unmounting ${mnt}"
    umount "${mnt}" 2>/dev/null || umount -l "${mnt}"
  done < <(our_mounts)
  rm -rf "${CUR_DATA_ROOT}" "${CUR_EXEC_ROOT}"
  rm -f "${CUR_SOCK}" "${CUR_PIDFILE}" "${CUR_MARKER}" "${CUR_LAUNCH_PIDFILE}" "${CUR_CONTAINERD_PIDFILE}"
  for dir in /sys/fs/cgroup"${CGROUP_PARENT}" /sys/fs/cgroup/*"${CGROUP_PARENT}"; do
    [[ -d "${dir}" ]] || continue
    find "${dir}" -depth -type d -exec rmdir {} \; 2>/dev/null || warn "cgroup ${dir} not removed"
  done
}

on_exit() {
  local rc=$?
  teardown
  if [[ "${KEEP_LOGS:-0}" == 1 || "${rc}" -ne 0 ]]; then
    log "logs kept in ${LOGS}"
  else
    rm -rf "${LOGS}"
  fi
  exit "${rc}"
}

check_runtime() {
  local cid shim runtime_path runc
  cid="$(try_docker run -d --net none "${IMAGE}" sleep 30)"
  shim="$(pgrep -f -- "containerd-shim-runc-v2 .*-id ${cid}" | head -n1)"
  [[ -n "${shim}" ]] || die "no containerd-shim-runc-v2 for container ${cid:0:12}"
  [[ "$(readlink "/proc/${shim}/exe")" == "${CURRENT_ENGINE_BIN}/containerd-shim-runc-v2" ]] ||
    die "the shim is $(readlink "/proc/${shim}/exe"), not the built one"
  runtime_path="$(tr '\0' '\n' <"/proc/${shim}/environ" | sed -n 's/^PATH=//p')"
  # The shim runs `runc` through its PATH (containerd puts its empty opt/bin first).
  runc="$(PATH="${runtime_path}" command -v runc)"
  [[ "${runc}" == "${CURRENT_ENGINE_BIN}/runc" ]] || die "the shim's PATH (${runtime_path}) finds ${runc:-no runc}, not the built one"
  "${CURRENT_ENGINE_BIN}/runc" --root "${CUR_EXEC_ROOT}/runtime-runc/moby" list | grep -q "^${cid} " ||
    die "the built runc does not list container ${cid:0:12} in ${CUR_EXEC_ROOT}/runtime-runc/moby"
  log "container ${cid:0:12}: the built shim (pid ${shim}) runs ${runc}, which lists the container"
  try_docker rm -f "${cid}" >/dev/null
}

main() {
  require_root engine-smoke
  current_engine_built || die "Docker ${CURRENT_DOCKER_VERSION} is not built: run scripts/engine/build-current.sh"
  LOGS="$(mktemp -d /tmp/dovesnap-engine-try.XXXXXX)"
  CUR_DOCKERD_LOG="${LOGS}/dockerd.log"
  CUR_CONTAINERD_LOG="${LOGS}/containerd.log"
  trap on_exit EXIT
  teardown # a try that was interrupted
  unshare --net -- true || die "cannot make a network namespace (unshare --net); not trying: in the host's, dockerd --bridge=none would delete its docker0"

  start_current_engine || die "the built engine did not start"
  [[ "$(readlink "/proc/$(cat "${CUR_MARKER}")/ns/net")" != "$(readlink /proc/self/ns/net)" ]] ||
    die "the try's dockerd runs in the host's network namespace"
  try_docker version
  [[ "$(try_docker version --format '{{.Server.Version}}')" == "${CURRENT_DOCKER_VERSION}" ]] ||
    die "the server is not Docker ${CURRENT_DOCKER_VERSION}"
  log "docker info: $(try_docker info --format 'runtime {{.DefaultRuntime}}, containerd {{.ContainerdCommit.ID}}, runc {{.RuncCommit.ID}}, init {{.InitCommit.ID}}, storage {{.Driver}} ({{range .DriverStatus}}{{index . 0}} {{index . 1}}; {{end}}), cgroup {{.CgroupDriver}} v{{.CgroupVersion}}, security {{.SecurityOptions}}')"

  # The image as the containerd image store (Docker 29's default) imports it.
  PATH="${CURRENT_CLIENT_DIR}:${PATH}" DOCKER_HOST="unix://${CUR_SOCK}" DOVESNAP_TEST_IMAGE="${IMAGE}" "${REPO_ROOT}/scripts/build-test-image.sh"
  try_docker run --rm --net none "${IMAGE}" busybox true
  log "docker run --rm --net none ${IMAGE} busybox true: ok"
  [[ "$(try_docker run --rm --net none --init "${IMAGE}" sh -c 'cat /proc/1/comm')" == docker-init ]] ||
    die "--init: PID 1 is not docker-init"
  log "docker run --init: PID 1 is docker-init"
  [[ "$(try_docker run --rm --net none "${IMAGE}" sh -c "sed -n 's/^Seccomp:[[:space:]]*//p' /proc/self/status")" == 2 ]] ||
    die "the default seccomp profile is not applied"
  log "default seccomp profile applied (Seccomp: 2)"
  check_runtime

  teardown
  [[ -z "$(our_pids)" && -z "$(our_mounts)" && ! -e "${CUR_DATA_ROOT}" && ! -e "${CUR_EXEC_ROOT}" ]] ||
    die "something of the try is left"
  log "ok: Docker ${CURRENT_DOCKER_VERSION} ran containers next to the host's engine (its dockerd in a network namespace of its own); nothing of it left"
}

main "$@"
