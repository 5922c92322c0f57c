#!/usr/bin/env bash
# What ovs.bridge.preallocate_ports saves: the startup benchmark (N containers, one network)
# run twice with the daemon's own spare entries off (DOVESNAP_SPARE_PORTS=0), once without
# preallocation and once with preallocate_ports=N, measuring from outside (b) time to first ping
# and FAUCET's work: its CPU time and how often it reconfigured a datapath.
#
#   bench/preallocate.sh [N]        (default 60; root, the stack up: `make up`)
#
# Restarts the daemon twice (scripts/up.sh with DOVESNAP_SPARE_PORTS=0), and once more at the
# end with the environment it was started from.
set -euo pipefail
N="${1:-60}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOG=/var/log/dovesnap/faucet.log
OUT="${TMPDIR:-/tmp}/dovesnap-prealloc"
mkdir -p "${OUT}"

faucet_cpu_s() {
  local pid
  pid="$(cat /run/dovesnap/faucet.pid)"
  # utime + stime, in clock ticks
  awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/${pid}/stat"
}

count() { grep -c "$1" "${LOG}" || true; }

trial() {
  local name="$1"
  shift
  DOVESNAP_SPARE_PORTS=0 bash "${REPO}/scripts/up.sh" >/dev/null
  sleep 3
  local cpu0 re0 hup0 cpu1 re1 hup1
  cpu0="$(faucet_cpu_s)"; re0="$(count 'Reconfiguring existing datapath')"; hup0="$(count 'Reloading configuration')"
  node "${REPO}/dist/bench/startup.js" --n "${N}" --rounds 1 --json "${OUT}/${name}.json" "$@" >"${OUT}/${name}.txt" 2>&1
  cpu1="$(faucet_cpu_s)"; re1="$(count 'Reconfiguring existing datapath')"; hup1="$(count 'Reloading configuration')"
  local b
  # The row: | N | kind | runs | (a) med | (a) p95 | (a) max | ratio | (b) med | (b) p95 | (b) max | (b) failed | RTT |
  b="$(grep -E "^\| ${N} \| dovesnap" "${OUT}/${name}.txt" | head -1 | awk -F'|' '{ gsub(/ /, ""); print "(a) median " $5 " ms; (b) median " $9 " ms, p95 " $10 " ms, max " $11 " ms, failed " $12 }')"
  printf '%-28s %s; FAUCET: %s reloads, %s datapath reconfigurations, %.1f s CPU (whole run, bridge trials included)\n' \
    "${name}" "${b}" "$((hup1 - hup0))" "$((re1 - re0))" "$(awk -v a="${cpu0}" -v b="${cpu1}" 'BEGIN { print b - a }')"
}

trap 'bash "${REPO}/scripts/up.sh" >/dev/null' EXIT
echo "N=${N}, DOVESNAP_SPARE_PORTS=0; details in ${OUT}/"
trial "no-preallocation"
trial "preallocate_ports=${N}" --net-opt "ovs.bridge.preallocate_ports=${N}"
