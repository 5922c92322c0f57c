#!/usr/bin/env bash
# `make hosts N=3` / `make hosts-down`: simulated Docker hosts on this machine, to try dovesnap
# across hosts (issue 24) and for its end-to-end tests. Each host K is a set of processes (its own
# Open vSwitch, Docker Engine and dovesnap daemon) in network, mount and UTS namespaces of its own
# and in a cgroup of its own; this machine's FAUCET is every host's controller. docs/hosts-harness.md
# says how it works.
#
#   scripts/hosts.sh up N     hosts 1..N up (1 <= N <= 8); hosts already up stay as they are. Prints,
#                             once all are ready, one line per host and nothing else on stdout:
#                               hostK DOCKER_HOST=unix:///run/dovesnap-hosts/hK/docker.sock STATUS=http://10.239.0.(10+K):9401
#                             (progress goes to stderr)
#   scripts/hosts.sh down     stops every process of every host and removes what the harness made
#   scripts/hosts.sh env K    the environment host K's dovesnap daemon runs with, NAME=VALUE lines
#   scripts/hosts.sh exec K CMD...   runs CMD inside host K (its namespaces), e.g. `ip addr`, `ovs-vsctl show`
#
# Environment: HOSTS_DAEMON_ENV ("NAME=VALUE NAME=VALUE", added to every host's daemon environment,
# last wins; a change restarts the daemons), HOSTS_STACKING=1 (pass each host the STACKING_INTERFACES
# of its veth links and STACK_PRIORITY1=dovesnap-dsh-h1: off by default), HOSTS_CONFRPC=auto|1|0
# (the hosts write this machine's FAUCET configuration through faucetconfrpc, see use_confrpc),
# HOSTS_STACK_MIRROR=1 (with HOSTS_STACKING=1: every host's mirrored traffic to host 1's stack
# switch, interface dsh-mirror, tcpdump on dsh-mirror-cap in host 1), HOSTS_KEEP_LOGS=1 (`down`
# keeps /var/log/dovesnap-hosts).
set -euo pipefail
LOG_TAG=dovesnap-hosts
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=scripts/engine/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/engine/lib.sh"
# shellcheck source=scripts/confrpc.sh
source "$(dirname "${BASH_SOURCE[0]}")/confrpc.sh"

HOSTS_MAX=8
HOSTS_RUN=/run/dovesnap-hosts
HOSTS_LIB=/var/lib/dovesnap-hosts
HOSTS_LOG=/var/log/dovesnap-hosts
# One `make hosts`/`make hosts-down` at a time (beside make up's lock, in the same directory).
HOSTS_LOCK="${DOVESNAP_RUN_DIR}/hosts.lock"
# The management network: a bridge in a namespace of its own (this machine's firewall and
# br_netfilter never see the hosts' traffic to each other), linked to this machine, the controller.
MGMT_NET=10.239.0
MGMT_NS=dsh-mgmt
MGMT_BRIDGE=br0
MGMT_ROOT_IF=dsh-mgmt
CONTROLLER_ADDR="${MGMT_NET}.1"
HOST_MGMT_IF=mgmt0
HOST_STATUS_PORT=9401
# The hosts' processes live in the cgroup <hierarchy>/dovesnap-hosts/hK/sys, their containers
# under .../hK/docker (dockerd's --cgroup-parent): the subtree holds every process of host K.
CGROUP_NAME=dovesnap-hosts
IMAGE="${DOVESNAP_TEST_IMAGE:-dovesnap-busybox:latest}"
DOCKER_CLI=/usr/bin/docker

# ---- names and places of host K ----
host_ns() { printf 'dsh-h%s\n' "$1"; }
host_name() { printf 'dsh-h%s\n' "$1"; }
host_run() { printf '%s/h%s\n' "${HOSTS_RUN}" "$1"; }
host_lib() { printf '%s/h%s\n' "${HOSTS_LIB}" "$1"; }
host_log() { printf '%s/h%s\n' "${HOSTS_LOG}" "$1"; }
host_addr() { printf '%s.%s\n' "${MGMT_NET}" "$((10 + $1))"; }
host_sock() { printf '%s/docker.sock\n' "$(host_run "$1")"; }
host_status_url() { printf 'http://%s:%s\n' "$(host_addr "$1")" "${HOST_STATUS_PORT}"; }
host_pidfile() { printf '%s/pids/%s.pid\n' "$(host_run "$1")" "$2"; }
# The veth between hosts K and J, as host K names its end.
stack_if() { printf 'dsh-to-h%s\n' "$2"; }
# HOSTS_STACK_MIRROR=1: every host's mirrored traffic ends up on host 1's stack switch, port
# MIRROR_SINK_PORT, the interface MIRROR_SINK_IF (its veth peer MIRROR_CAPTURE_IF is for tcpdump).
MIRROR_SINK_IF=dsh-mirror
MIRROR_CAPTURE_IF=dsh-mirror-cap
MIRROR_SINK_PORT=4000

# cgroup v2 has one hierarchy; under v1 the pids hierarchy tracks the processes (dockerd makes its
# containers' cgroups in every hierarchy, which `down` removes too).
cgroup_root() {
  if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then echo /sys/fs/cgroup; else echo /sys/fs/cgroup/pids; fi
}
host_cgroup() { printf '%s/%s/h%s\n' "$(cgroup_root)" "${CGROUP_NAME}" "$1"; }

# The DPID of host K's stack switch comes from its machine ID (src/driver/stack.ts stackIdentity):
# a fixed one per K, so that each host's DPID is the same on every run.
host_machine_id() { printf 'dovesnap-hosts h%s\n' "$1" | md5sum | cut -c1-32; }

dovesnap_dp_name() { printf 'dovesnap-%s\n' "$(host_name "$1")"; }

# The hosts that exist in any form (directories, namespaces, cgroups), for `down`.
existing_hosts() {
  {
    local d
    for d in "${HOSTS_RUN}"/h* "${HOSTS_LIB}"/h* /sys/fs/cgroup/"${CGROUP_NAME}"/h* /sys/fs/cgroup/*/"${CGROUP_NAME}"/h*; do
      [[ -e "${d}" ]] && printf '%s\n' "${d##*/h}"
    done
    ip netns list 2>/dev/null | awk '{print $1}' | sed -n 's/^dsh-h\([0-9][0-9]*\)$/\1/p'
  } | { grep -E '^[0-9]+$' || true; } | sort -un
}

# ---- running things inside host K ----
holder_pid() { pidfile_pid "$(host_pidfile "$1" holder)" "dovesnap-host-h$1"; }

# host_exec K CMD...: CMD in host K's network, mount and UTS namespaces (short-lived commands).
host_exec() {
  local k="$1" pid
  shift
  pid="$(holder_pid "${k}")" || die "host ${k} is not up (make hosts N=${k})"
  nsenter --target "${pid}" --net --mount --uts -- "$@"
}

# host_start K NAME CMD...: a long-running process of host K: joins the host's cgroup, enters its
# namespaces and execs CMD (one pid all along, recorded in pids/NAME.pid); output to NAME.log.
host_start() {
  local k="$1" name="$2" holder
  shift 2
  holder="$(holder_pid "${k}")" || die "host ${k}: the namespace holder is not running"
  # shellcheck disable=SC2016 # for the inner shell
  start_detached "$(host_pidfile "${k}" "${name}")" "$(host_log "${k}")/${name}.log" \
    bash -c 'printf "%s\n" "$$" >"$1"; t="$2"; shift 2; exec nsenter --target "$t" --net --mount --uts -- "$@"' \
    host-start "$(host_cgroup "${k}")/sys/cgroup.procs" "${holder}" "$@"
}

# ---- the management network ----
ensure_mgmt() {
  if ! ip netns list | grep -qx "${MGMT_NS}\( (id: [0-9]*)\)\?"; then
    log "management network: namespace ${MGMT_NS} with bridge ${MGMT_BRIDGE}, ${MGMT_ROOT_IF} ${CONTROLLER_ADDR}/24 here"
    ip netns add "${MGMT_NS}"
    ip -n "${MGMT_NS}" link set lo up
    ip -n "${MGMT_NS}" link add "${MGMT_BRIDGE}" type bridge
    ip -n "${MGMT_NS}" link set "${MGMT_BRIDGE}" up
  fi
  if ! ip link show "${MGMT_ROOT_IF}" >/dev/null 2>&1; then
    ip link add "${MGMT_ROOT_IF}" type veth peer name ctl netns "${MGMT_NS}"
    ip -n "${MGMT_NS}" link set ctl master "${MGMT_BRIDGE}" up
    ip addr add "${CONTROLLER_ADDR}/24" dev "${MGMT_ROOT_IF}"
    ip link set "${MGMT_ROOT_IF}" up
  fi
}

# FAUCET must accept OpenFlow on the management address (make up's listens on every address).
check_controller_reachable() {
  local listen
  listen="$(ss -Hltn "sport = :${FAUCET_OF_PORT}" 2>/dev/null | awk '{print $4}')"
  if [[ -z "${listen}" ]]; then
    warn "no FAUCET listens on port ${FAUCET_OF_PORT} here (make up starts it): the hosts' bridges will have no controller"
  elif ! grep -qE "^(0\.0\.0\.0|\*|\[::\]|${CONTROLLER_ADDR//./\\.}):${FAUCET_OF_PORT}$" <<<"${listen}"; then
    warn "FAUCET listens on ${listen//$'\n'/ } only: the hosts reach it at ${CONTROLLER_ADDR}:${FAUCET_OF_PORT}"
  fi
}

# ---- one host ----
# Inside the new namespaces (run by the holder before it sleeps): the host's own view of the
# paths that Docker, Open vSwitch and dovesnap use by default, and a /sys of its network namespace.
holder_setup() {
  local k="$1" run lib
  run="$(host_run "${k}")"
  lib="$(host_lib "${k}")"
  hostname "$(host_name "${k}")"
  # /sys/class/net shows the links of the namespace /sys was mounted in: mount a new one, and put
  # back what was mounted on the old one (the cgroup hierarchy, which dockerd needs; securityfs...).
  local -a subs=()
  local i
  mapfile -t subs < <(awk '$5 ~ "^/sys/" { print $5 }' /proc/self/mountinfo | sort -u |
    awk 'NR == 1 || index($0, top "/") != 1 { print; top = $0 }')
  for i in "${!subs[@]}"; do
    mkdir -p "${run}/sys-keep/${i}"
    mount --rbind "${subs[i]}" "${run}/sys-keep/${i}"
  done
  mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
  for i in "${!subs[@]}"; do
    mount --move "${run}/sys-keep/${i}" "${subs[i]}"
    rmdir "${run}/sys-keep/${i}"
  done
  rm -rf "${run}/sys-keep"
  # The copies of this machine's namespace files (`ip netns`, Docker's containers) would hold
  # those namespaces, and the links in them, for as long as the host runs.
  local -a nsfs=()
  mapfile -t nsfs < <(awk '{ for (i = 7; i < NF; i++) if ($i == "-") { if ($(i + 1) == "nsfs") print $5; break } }' /proc/self/mountinfo)
  ((${#nsfs[@]} == 0)) || umount -l "${nsfs[@]}"
  # The mount points exist on a host where make up ran; made here otherwise.
  mkdir -p /run/docker/plugins /run/openvswitch /run/containerd /run/dovesnap /var/lib/dovesnap /etc/openvswitch /etc/docker
  # Docker finds plugins in /run/docker/plugins only: this host's dovesnap socket, not this machine's.
  mount --bind "${run}/plugins" /run/docker/plugins
  mount --bind "${run}/ovs" /run/openvswitch
  # containerd's shims keep their sockets in /run/containerd/s whatever containerd's own roots are.
  mount --bind "${run}/containerd" /run/containerd
  mount --bind "${run}/dovesnap" /run/dovesnap
  mount --bind "${lib}/dovesnap" /var/lib/dovesnap
  mount --bind "${lib}/etc-openvswitch" /etc/openvswitch
  mount --bind "${lib}/etc-docker" /etc/docker
  mount --bind "${run}/machine-id" /etc/machine-id
  touch "${run}/holder.ready"
  exec -a "dovesnap-host-h${k}" sleep infinity
}

holder_ready() {
  pidfile_alive "$(host_pidfile "$1" holder)" || return 3
  [[ -e "$(host_run "$1")/holder.ready" ]]
}

make_host_dirs() {
  local k="$1" run lib
  run="$(host_run "${k}")"
  lib="$(host_lib "${k}")"
  mkdir -p "${run}/pids" "${run}/plugins" "${run}/ovs" "${run}/dovesnap" "${run}/docker" "${run}/containerd" \
    "${lib}/docker" "${lib}/dovesnap" "${lib}/etc-openvswitch" "${lib}/etc-docker" "${lib}/faucet/etc/faucet" \
    "$(host_log "${k}")" "$(host_cgroup "${k}")/sys"
  chmod 0700 "${run}" "${lib}"
  host_machine_id "${k}" >"${run}/machine-id"
  [[ -f "${lib}/etc-docker/daemon.json" ]] || printf '{}\n' >"${lib}/etc-docker/daemon.json"
}

start_holder() {
  local k="$1" ns
  ns="$(host_ns "${k}")"
  make_host_dirs "${k}"
  ip netns add "${ns}"
  ip -n "${ns}" link set lo up
  rm -f "$(host_run "${k}")/holder.ready"
  # shellcheck disable=SC2016 # for the inner shell
  start_detached "$(host_pidfile "${k}" holder)" "$(host_log "${k}")/holder.log" \
    bash -c 'printf "%s\n" "$$" >"$1"; shift; exec "$@"' holder-start "$(host_cgroup "${k}")/sys/cgroup.procs" \
    nsenter "--net=/run/netns/${ns}" -- unshare --mount --uts --propagation private -- \
    "${REPO_ROOT}/scripts/hosts.sh" _holder "${k}" || die "host ${k}: could not start the namespace holder"
  if ! wait_until 10 "host ${k}'s namespaces" holder_ready "${k}"; then
    log_tail "$(host_log "${k}")/holder.log"
    die "host ${k}: the namespace holder did not get ready"
  fi
}

ensure_host_links() {
  local k="$1" ns peer j
  ns="$(host_ns "${k}")"
  if ! ip -n "${ns}" link show "${HOST_MGMT_IF}" >/dev/null 2>&1; then
    ip -n "${MGMT_NS}" link del "h${k}" 2>/dev/null || true
    ip link add "h${k}" netns "${MGMT_NS}" type veth peer name "${HOST_MGMT_IF}" netns "${ns}"
    ip -n "${MGMT_NS}" link set "h${k}" master "${MGMT_BRIDGE}" up
    ip -n "${ns}" addr add "$(host_addr "${k}")/24" dev "${HOST_MGMT_IF}"
    ip -n "${ns}" link set "${HOST_MGMT_IF}" up
  fi
  # The stacking links: host K to host K-1 (a line: each host between two others is their stack switch).
  j=$((k - 1))
  if ((j >= 1)) && holder_pid "${j}" >/dev/null && ! ip -n "${ns}" link show "$(stack_if "${k}" "${j}")" >/dev/null 2>&1; then
    peer="$(host_ns "${j}")"
    ip -n "${peer}" link del "$(stack_if "${j}" "${k}")" 2>/dev/null || true
    ip link add "$(stack_if "${k}" "${j}")" netns "${ns}" type veth peer name "$(stack_if "${j}" "${k}")" netns "${peer}"
    ip -n "${ns}" link set "$(stack_if "${k}" "${j}")" up
    ip -n "${peer}" link set "$(stack_if "${j}" "${k}")" up
  fi
  # Host 1's stack mirror port (HOSTS_STACK_MIRROR=1): a veth pair inside host 1, one end on its
  # stack switch, the other for tcpdump (`scripts/hosts.sh exec 1 tcpdump -i dsh-mirror-cap`).
  if ((k == 1)) && [[ "${HOSTS_STACK_MIRROR:-0}" == 1 ]] && ! ip -n "${ns}" link show "${MIRROR_SINK_IF}" >/dev/null 2>&1; then
    ip -n "${ns}" link add "${MIRROR_SINK_IF}" type veth peer name "${MIRROR_CAPTURE_IF}"
    ip -n "${ns}" link set "${MIRROR_SINK_IF}" up
    ip -n "${ns}" link set "${MIRROR_CAPTURE_IF}" up
  fi
}

# The OpenFlow port of host J's stacking interface towards host K on J's stack switch: J's
# interfaces are listed lower host first, and Open vSwitch numbers a bridge's ports in the order
# they are added (1, 2).
stack_port_on() {
  local j="$1" k="$2"
  if ((k < j)) || ((j == 1)); then echo 1; else echo 2; fi
}

# STACKING_INTERFACES for host K among hosts 1..N: DP:PORT:INTERFACE for each neighbour.
stacking_interfaces() {
  local k="$1" n="$2" j out=()
  for j in $((k - 1)) $((k + 1)); do
    ((j >= 1 && j <= n)) || continue
    out+=("$(dovesnap_dp_name "${j}"):$(stack_port_on "${j}" "${k}"):$(stack_if "${k}" "${j}")")
  done
  local IFS=,
  printf '%s\n' "${out[*]}"
}

ovsdb_ready() {
  pidfile_alive "$(host_pidfile "$1" ovsdb-server)" || return 3
  ovs-vsctl --db="unix:$(host_run "$1")/ovs/db.sock" --timeout=2 show
}
vswitchd_ready() {
  pidfile_alive "$(host_pidfile "$1" ovs-vswitchd)" || return 3
  ovs-appctl -t "$(host_run "$1")/ovs/ovs-vswitchd.ctl" version
}

ensure_host_ovs() {
  local k="$1" run lib db
  run="$(host_run "${k}")"
  lib="$(host_lib "${k}")"
  db="${lib}/etc-openvswitch/conf.db"
  if ! pidfile_pid "$(host_pidfile "${k}" ovsdb-server)" ovsdb-server >/dev/null; then
    [[ -e "${db}" ]] || ovsdb-tool create "${db}" "${OVS_SCHEMA}"
    rm -f "${run}/ovs/db.sock" "${run}/ovs/ovsdb-server.ctl"
    log "host ${k}: starting ovsdb-server"
    host_start "${k}" ovsdb-server ovsdb-server "${db}" --remote="punix:${run}/ovs/db.sock" \
      --pidfile="${run}/ovs/ovsdb-server.pid" --unixctl="${run}/ovs/ovsdb-server.ctl" -vconsole:err \
      --log-file="$(host_log "${k}")/ovsdb-server.log"
    wait_until 20 "host ${k}'s ovsdb-server" ovsdb_ready "${k}" ||
      { log_tail "$(host_log "${k}")/ovsdb-server.log"; die "host ${k}: ovsdb-server did not answer"; }
    ovs-vsctl --db="unix:${run}/ovs/db.sock" --timeout=10 --no-wait init
  fi
  if ! pidfile_pid "$(host_pidfile "${k}" ovs-vswitchd)" ovs-vswitchd >/dev/null; then
    rm -f "${run}/ovs/ovs-vswitchd.ctl"
    log "host ${k}: starting ovs-vswitchd"
    host_start "${k}" ovs-vswitchd ovs-vswitchd "unix:${run}/ovs/db.sock" \
      --pidfile="${run}/ovs/ovs-vswitchd.pid" --unixctl="${run}/ovs/ovs-vswitchd.ctl" -vconsole:err \
      --log-file="$(host_log "${k}")/ovs-vswitchd.log"
    wait_until 20 "host ${k}'s ovs-vswitchd" vswitchd_ready "${k}" ||
      { log_tail "$(host_log "${k}")/ovs-vswitchd.log"; die "host ${k}: ovs-vswitchd did not answer"; }
  fi
}

# HOSTS_CONFRPC: 1 the hosts write FAUCET's configuration here through faucetconfrpc (this
# machine's server, moved to the management address: ensure_controller_confrpc), 0 they do not
# (each its own faucet.yaml, which no FAUCET reads), auto (the default) 1 when this machine's
# server was last started on the management address (an earlier make hosts HOSTS_CONFRPC=1, or
# make up CONFRPC_HOST=10.239.0.1), else 0.
use_confrpc() {
  case "${HOSTS_CONFRPC:-auto}" in
    1) return 0 ;;
    0) return 1 ;;
    auto) [[ "$(confrpc_recorded_host)" == "${CONTROLLER_ADDR}" ]] ;;
    *) die "HOSTS_CONFRPC=${HOSTS_CONFRPC}: expected 1, 0 or auto" ;;
  esac
}

# With faucetconfrpc, the hosts write through this machine's server (make up CONFRPC=1), which
# must then listen on the management address, and that address exists only once ensure_mgmt has
# made it: so the harness moves the server there (make up CONFRPC_HOST=...), before any host's
# daemon starts (a daemon refuses to start without the server's CA certificate), and
# make hosts-down gives the server back the address it had, recorded here.
CONTROLLER_CONFRPC_BEFORE="${HOSTS_RUN}/confrpc-host.before"

ensure_controller_confrpc() {
  use_confrpc || return 0
  local recorded
  recorded="$(confrpc_recorded_host)"
  if [[ "${recorded}" == "${CONTROLLER_ADDR}" ]] &&
    ss -Hltn "src ${CONTROLLER_ADDR} and sport = :${CONFRPC_PORT}" 2>/dev/null | grep -q .; then
    log "faucetconfrpc: this machine's server listens on ${CONTROLLER_ADDR}:${CONFRPC_PORT}"
    return 0
  fi
  mkdir -p "${HOSTS_RUN}" "${HOSTS_LOG}"
  [[ -e "${CONTROLLER_CONFRPC_BEFORE}" ]] || printf '%s\n' "${recorded}" >"${CONTROLLER_CONFRPC_BEFORE}"
  log "faucetconfrpc: make up CONFRPC=1 CONFRPC_HOST=${CONTROLLER_ADDR} (this machine's server on the management address; make hosts-down gives it back ${recorded:-none})"
  CONFRPC=1 CONFRPC_HOST="${CONTROLLER_ADDR}" "${REPO_ROOT}/scripts/up.sh" >"${HOSTS_LOG}/controller-up.log" 2>&1 ||
    { log_tail "${HOSTS_LOG}/controller-up.log"; die "faucetconfrpc: make up CONFRPC_HOST=${CONTROLLER_ADDR} failed"; }
}

# After hosts-down: the server back where it was before the harness moved it (none: stopped).
restore_controller_confrpc() {
  [[ -f "${CONTROLLER_CONFRPC_BEFORE}" ]] || return 0
  local before
  before="$(head -n 1 "${CONTROLLER_CONFRPC_BEFORE}")"
  mkdir -p "${HOSTS_LOG}"
  log "faucetconfrpc: giving this machine's server back its address (${before:-stopped, as before make hosts})"
  if [[ -n "${before}" ]]; then
    CONFRPC=1 CONFRPC_HOST="${before}" "${REPO_ROOT}/scripts/up.sh" >"${HOSTS_LOG}/controller-up.log" 2>&1
  else
    CONFRPC=0 "${REPO_ROOT}/scripts/up.sh" >"${HOSTS_LOG}/controller-up.log" 2>&1
  fi || { log_tail "${HOSTS_LOG}/controller-up.log"; die "faucetconfrpc: make up to give the server back its address failed"; }
  rm -f "${CONTROLLER_CONFRPC_BEFORE}"
}

# A host that wrote the shared configuration takes its DPs out of it (dovesnap confrpc leave, as
# make down-all does on a real host), once its daemon is stopped: hosts leave from the end of the
# stack towards host 1, the root, which FAUCET requires.
leave_controller() {
  local k="$1" env_file env=()
  env_file="$(host_run "${k}")/dovesnap.env"
  [[ -f "${env_file}" ]] || return 0
  mapfile -t env <"${env_file}"
  confrpc_leave "host ${k}: " "${env[@]}" "DOVESNAP_HOST_NAME=$(host_name "${k}")"
}

# The environment of host K's dovesnap daemon, NAME=VALUE lines: its own Open vSwitch, Docker,
# plugin directory, FAUCET files and status address; this machine's FAUCET as its controller,
# and this machine's faucetconfrpc server.
daemon_env() {
  local k="$1" n="$2" run lib pair
  run="$(host_run "${k}")"
  lib="$(host_lib "${k}")"
  printf '%s\n' \
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" "HOME=/root" "LANG=C.UTF-8" "MALLOC_ARENA_MAX=2" \
    "FAUCET_PREFIX=${lib}/faucet" \
    "DOVESNAP_DEFAULT_CONTROLLERS=tcp:${CONTROLLER_ADDR}:${FAUCET_OF_PORT}" \
    "DOVESNAP_OVSDB=${run}/ovs/db.sock" \
    "DOVESNAP_DOCKER_SOCK=${run}/docker.sock" \
    "DOVESNAP_PLUGIN_DIR=${run}/plugins" \
    "DOVESNAP_DATAPATH=netdev" \
    "DOVESNAP_STATUS_ADDR=$(host_addr "${k}"):${HOST_STATUS_PORT}" \
    "DOVESNAP_STATUS_ALLOW=${MGMT_NET}.0/24" \
    "DOVESNAP_DHCP_DIR=${run}/dovesnap/dhcp" \
    "DOVESNAP_ATTACH_DIR=${lib}/dovesnap/attach" \
    "DOVESNAP_ATTACH_DHCP_DIR=${run}/dovesnap/attach-dhcp" \
    "DOVESNAP_NARWHAL_DIR=${lib}/dovesnap/narwhal" \
    "DOVESNAP_LAB_DIR=${lib}/dovesnap/lab"
  if use_confrpc; then
    # FAUCET's metrics, to confirm each write loaded: this machine's, on every address while the
    # server is on the management network (the host's own loopback has none).
    printf '%s\n' "FAUCETCONFRPC_ADDR=${CONTROLLER_ADDR}" "FAUCETCONFRPC_PORT=${CONFRPC_PORT}" \
      "FAUCETCONFRPC_KEYDIR=${FAUCETCONFRPC_KEYDIR}" \
      "DOVESNAP_FAUCET_METRICS=http://${CONTROLLER_ADDR}:${FAUCET_PROM_PORT}/metrics"
  fi
  if [[ "${HOSTS_STACKING:-0}" == 1 ]] && ((n > 1)); then
    printf '%s\n' "STACKING_INTERFACES=$(stacking_interfaces "${k}" "${n}")" "STACK_PRIORITY1=$(dovesnap_dp_name 1)"
    if [[ "${HOSTS_STACK_MIRROR:-0}" == 1 ]]; then
      local sink
      sink="$(dovesnap_dp_name 1):${MIRROR_SINK_PORT}"
      ((k == 1)) && sink+=":${MIRROR_SINK_IF}"
      printf '%s\n' "STACK_MIRROR_INTERFACE=${sink}"
    fi
  fi
  for pair in ${HOSTS_DAEMON_ENV:-}; do
    [[ "${pair}" == *=* ]] || die "HOSTS_DAEMON_ENV: '${pair}' is not NAME=VALUE"
    printf '%s\n' "${pair}"
  done
}

daemon_ready() {
  pidfile_alive "$(host_pidfile "$1" dovesnap)" || return 3
  [[ -S "$(host_run "$1")/plugins/dovesnap.sock" ]] && http_ok "$(host_status_url "$1")/healthz"
}

ensure_host_daemon() {
  local k="$1" n="$2" run cli env_file
  local -a env
  run="$(host_run "${k}")"
  env_file="${run}/dovesnap.env"
  mapfile -t env < <(daemon_env "${k}" "${n}")
  if pidfile_pid "$(host_pidfile "${k}" dovesnap)" "${DAEMON_MATCH}" >/dev/null; then
    if cmp -s "${env_file}" <(printf '%s\n' "${env[@]}"); then return 0; fi
    log "host ${k}: restarting dovesnap (its environment changed)"
    stop_pidfile "host ${k} dovesnap" "$(host_pidfile "${k}" dovesnap)" "${DAEMON_MATCH}" 30 >&2
  fi
  cli="$(dovesnap_cli_path)" || die "dovesnap is not built: scripts/build.sh"
  rm -f "${run}/plugins/dovesnap.sock" "${run}/plugins/ovs.sock"
  printf '%s\n' "${env[@]}" >"${env_file}"
  log "host ${k}: starting dovesnap (${cli})"
  # shellcheck disable=SC2086 # DOVESNAP_NODE_FLAGS is a list of flags
  host_start "${k}" dovesnap env -i "${env[@]}" "$(command -v node)" ${DOVESNAP_NODE_FLAGS} "${cli}" daemon
  wait_until 30 "host ${k}'s dovesnap ($(host_status_url "${k}")/healthz)" daemon_ready "${k}" ||
    { log_tail "$(host_log "${k}")/dovesnap.log" 40; die "host ${k}: dovesnap did not get healthy"; }
}

dockerd_ready() {
  pidfile_alive "$(host_pidfile "$1" dockerd)" || return 3
  engine_answers "$(host_sock "$1")"
}

# Debian's dockerd with roots, socket and containerd of its own; containers in the host's cgroup.
# The firewall and the default bridge are the host's own (its network namespace), as on a real host.
ensure_host_docker() {
  local k="$1" run lib
  run="$(host_run "${k}")"
  lib="$(host_lib "${k}")"
  pidfile_pid "$(host_pidfile "${k}" dockerd)" dockerd >/dev/null && return 0
  rm -f "$(host_sock "${k}")"
  log "host ${k}: starting dockerd"
  host_start "${k}" dockerd "${DEBIAN_DOCKERD}" --config-file "${lib}/etc-docker/daemon.json" \
    -H "unix://$(host_sock "${k}")" --pidfile "${run}/docker/dockerd.pid" \
    --data-root "${lib}/docker" --exec-root "${run}/docker" \
    --exec-opt native.cgroupdriver=cgroupfs --cgroup-parent "/${CGROUP_NAME}/h${k}/docker"
  wait_until 60 "host ${k}'s dockerd" dockerd_ready "${k}" ||
    { log_tail "$(host_log "${k}")/dockerd.log" 40; die "host ${k}: dockerd did not answer"; }
}

image_id() { "${DOCKER_CLI}" "$@" image inspect --format '{{.Id}}' "${IMAGE}" 2>/dev/null; }

ensure_host_image() {
  local k="$1" want
  want="$(image_id)" || die "this machine's Docker has no ${IMAGE}: scripts/build-test-image.sh makes it (make up does)"
  [[ "$(image_id -H "unix://$(host_sock "${k}")" || true)" == "${want}" ]] && return 0
  log "host ${k}: loading ${IMAGE}"
  "${DOCKER_CLI}" save "${IMAGE}" | "${DOCKER_CLI}" -H "unix://$(host_sock "${k}")" load >&2
}

# host_namespaces K: host K's namespaces and its links to the management network and to host K-1.
host_namespaces() {
  local k="$1"
  if ! holder_pid "${k}" >/dev/null; then
    # Whatever is left of an earlier host K (a crash, an interrupted run) goes first.
    host_down "${k}"
    log "host ${k}: namespaces (netns $(host_ns "${k}"), hostname $(host_name "${k}"))"
    start_holder "${k}"
  fi
  ensure_host_links "${k}"
}

# host_up K N: host K's daemons, once every host's namespaces and links exist (a daemon started
# with stacking finds all its stacking interfaces).
host_up() {
  local k="$1" n="$2"
  stacking_interfaces "${k}" "${n}" >"$(host_run "${k}")/stacking-interfaces"
  ensure_host_ovs "${k}"
  # The plugin before Docker, as on a real host (make up): dockerd finds its socket at once.
  ensure_host_daemon "${k}" "${n}"
  ensure_host_docker "${k}"
  ensure_host_image "${k}"
}

# ---- taking down ----
host_cgroup_dirs() {
  local d
  for d in /sys/fs/cgroup/"${CGROUP_NAME}/h$1" /sys/fs/cgroup/*/"${CGROUP_NAME}/h$1"; do
    [[ -d "${d}" ]] && printf '%s\n' "${d}"
  done
}

# Every process in host K's cgroups (its daemons and its containers).
host_pids() {
  local d
  while IFS= read -r d; do
    find "${d}" -name cgroup.procs -exec cat {} + 2>/dev/null
  done < <(host_cgroup_dirs "$1") | sort -un
}

kill_host_processes() {
  local k="$1" pids deadline=$((SECONDS + 20))
  while pids="$(host_pids "${k}")" && [[ -n "${pids}" ]]; do
    if ((SECONDS >= deadline)); then
      warn "host ${k}: processes still alive after SIGKILL: ${pids//$'\n'/ }"
      return 1
    fi
    # shellcheck disable=SC2086 # a list of pids
    kill -KILL ${pids} 2>/dev/null || true
    sleep 0.2
  done
}

# Stops every process of host K (SIGKILL: its disks are removed next, so there is nothing to
# save; its mounts go with its mount namespace), then removes its namespace, cgroups and files.
host_down() {
  local k="$1" d mnt
  kill_host_processes "${k}" || die "host ${k}: could not stop its processes"
  leave_controller "${k}"
  if ip netns list | grep -q "^$(host_ns "${k}")\( \|$\)"; then
    log "host ${k}: removing netns $(host_ns "${k}")"
    ip netns del "$(host_ns "${k}")"
  fi
  ip -n "${MGMT_NS}" link del "h${k}" 2>/dev/null || true
  while IFS= read -r d; do
    find "${d}" -depth -type d -exec rmdir {} + 2>/dev/null || warn "host ${k}: cgroup ${d} not removed"
  done < <(host_cgroup_dirs "${k}")
  # Nothing of a host is mounted here (only in its own mount namespace), unless by hand.
  while IFS= read -r mnt; do
    [[ -n "${mnt}" ]] || continue
    warn "host ${k}: unmounting ${mnt}, mounted in this machine's namespace"
    umount "${mnt}" 2>/dev/null || umount -l "${mnt}"
  done < <(awk -v a="$(host_run "${k}")/" -v b="$(host_lib "${k}")/" \
    'index($5, a) == 1 || index($5, b) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
  rm -rf "$(host_run "${k}")" "$(host_lib "${k}")"
  [[ "${HOSTS_KEEP_LOGS:-0}" == 1 ]] || rm -rf "$(host_log "${k}")"
}

hosts_down() {
  local k
  for k in $(existing_hosts | sort -rn); do
    log "host ${k}: stopping"
    host_down "${k}"
  done
  restore_controller_confrpc
  if ip netns list | grep -q "^${MGMT_NS}\( \|$\)"; then
    log "management network: removing netns ${MGMT_NS} (and ${MGMT_ROOT_IF})"
    ip netns del "${MGMT_NS}"
  fi
  ip link del "${MGMT_ROOT_IF}" 2>/dev/null || true
  local d
  for d in /sys/fs/cgroup/"${CGROUP_NAME}" /sys/fs/cgroup/*/"${CGROUP_NAME}"; do
    [[ -d "${d}" ]] && { rmdir "${d}" || warn "cgroup ${d} not removed"; }
  done
  rmdir "${HOSTS_RUN}" "${HOSTS_LIB}" 2>/dev/null || true
  [[ "${HOSTS_KEEP_LOGS:-0}" == 1 ]] || rm -rf "${HOSTS_LOG}"
  log "down: no simulated host left"
}

# ---- main ----
check_count() {
  [[ "$1" =~ ^[0-9]+$ ]] && (($1 >= 1 && $1 <= HOSTS_MAX)) || die "N=$1: expected a number of hosts from 1 to ${HOSTS_MAX}"
}

host_line() {
  printf 'host%s DOCKER_HOST=unix://%s STATUS=%s\n' "$1" "$(host_sock "$1")" "$(host_status_url "$1")"
}

hosts_up() {
  local n="$1" k
  [[ -x "${DEBIAN_DOCKERD}" && -x "${DOCKER_CLI}" ]] || die "${DEBIAN_DOCKERD} or ${DOCKER_CLI} missing (make up installs docker.io)"
  daemon_env 1 "${n}" >/dev/null # HOSTS_* checked here: below, a process substitution reads it
  use_confrpc || log "faucetconfrpc: not used (HOSTS_CONFRPC=${HOSTS_CONFRPC:-auto}; this machine's server is not on ${CONTROLLER_ADDR}): each host writes a faucet.yaml of its own, which no FAUCET reads"
  check_controller_reachable
  ensure_mgmt
  ensure_controller_confrpc
  for ((k = 1; k <= n; k++)); do host_namespaces "${k}"; done
  for ((k = 1; k <= n; k++)); do host_up "${k}" "${n}"; done
  for ((k = 1; k <= n; k++)); do
    host_line "${k}" >&3
  done
}

main() {
  local cmd="${1:-}"
  # Only the host lines go to stdout (fd 3): `eval`-style use of `make hosts` stays possible.
  exec 3>&1 1>&2
  case "${cmd}" in
    _holder) holder_setup "$2" ;;
    up)
      check_count "${2:-3}"
      require_root hosts
      take_lock "${HOSTS_LOCK}"
      hosts_up "${2:-3}"
      ;;
    down)
      require_root hosts-down
      take_lock "${HOSTS_LOCK}"
      hosts_down
      ;;
    env)
      [[ "${2:-}" =~ ^[0-9]+$ ]] || die "usage: $0 env K"
      cat "$(host_run "$2")/dovesnap.env" >&3
      ;;
    exec)
      [[ "${2:-}" =~ ^[0-9]+$ && $# -ge 3 ]] || die "usage: $0 exec K CMD..."
      require_root hosts
      local k="$2"
      shift 2
      exec 1>&3 3>&-
      host_exec "${k}" "$@"
      ;;
    *) die "usage: $0 up N | down | env K | exec K CMD..." ;;
  esac
}

# Sourced (test/contract/hosts-script.test.ts), it only defines its functions.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then main "$@"; fi
