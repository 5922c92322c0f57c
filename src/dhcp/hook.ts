/**
 * The script udhcpc runs at every event (`udhcpc -s`). It runs where udhcpc runs: in the
 * container's network namespace only (the host's mount and PID namespaces), so `ip` is the
 * host's. It configures the interface as busybox's default script would, then writes the event
 * and udhcpc's variables, NUL-separated, to DOVESNAP_DHCP_REPORT (atomically: a temp file,
 * then a rename), where the daemon reads them (lease.ts).
 */
export const DHCP_HOOK_SCRIPT = `#!/bin/sh
# dovesnap: udhcpc event hook (written by the daemon; do not edit)
set -u
event="$1"
iface="\${interface:-eth0}"
case "$event" in
  deconfig)
    ip -4 addr flush dev "$iface"
    ip link set dev "$iface" up
    ;;
  bound|renew)
    prefix="\${mask:-}"
    if [ -z "$prefix" ]; then prefix=32; fi
    if ! ip -4 -o addr show dev "$iface" | grep -q " \${ip}/\${prefix} "; then
      ip -4 addr flush dev "$iface"
      ip addr add "\${ip}/\${prefix}" dev "$iface"
    fi
    if [ -n "\${router:-}" ]; then
      set -- \${router}
      ip route replace default via "$1" dev "$iface"
    fi
    ;;
esac
if [ -n "\${DOVESNAP_DHCP_REPORT:-}" ]; then
  tmp="\${DOVESNAP_DHCP_REPORT}.tmp.$$"
  { printf 'event=%s\\0' "$event"; env -0; } >"$tmp" && mv -f "$tmp" "\${DOVESNAP_DHCP_REPORT}"
fi
exit 0
`;
