#!/usr/bin/env bash
# Build the local test image (default dovesnap-busybox:latest) with `docker import` of a root
# filesystem made from Debian's static busybox: no registry is needed. Only builds when the
# image is missing or was made by an older version of this script (label below).
#   scripts/build-test-image.sh [--force]     env: DOVESNAP_TEST_IMAGE (image name)
#   scripts/build-test-image.sh --tar FILE    only write the root filesystem as a tarball to FILE
#     (no Docker): `dovesnap lab image build host` imports it as the lab's host image
set -euo pipefail
LOG_TAG=dovesnap-test-image
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

IMAGE="${DOVESNAP_TEST_IMAGE:-dovesnap-busybox:latest}"
BUSYBOX=/bin/busybox
# Bump when the root filesystem below changes, so that existing images get rebuilt.
IMAGE_REVISION=1
LABEL_KEY=org.dovesnap.test-image.revision
ROOTFS=""

cleanup() { [[ -n "${ROOTFS}" ]] && rm -rf "${ROOTFS}"; return 0; }

image_current() {
  [[ "$(docker image inspect --format "{{ index .Config.Labels \"${LABEL_KEY}\" }}" "${IMAGE}" 2>/dev/null)" == "${IMAGE_REVISION}" ]]
}

# Every applet as a symlink in /bin. `busybox --list` includes "busybox" itself: skip it, or
# the symlink would replace the binary.
link_applets() {
  local applet
  while IFS= read -r applet; do
    [[ -z "${applet}" || "${applet}" == busybox ]] && continue
    ln -s busybox "${ROOTFS}/bin/${applet}"
  done < <("${BUSYBOX}" --list)
}

write_etc() {
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
    >"${ROOTFS}/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"${ROOTFS}/etc/group"
  printf 'hosts: files dns\n' >"${ROOTFS}/etc/nsswitch.conf"
  # udhcpc's default hook: apply the lease (address, router, DNS) inside the container.
  cat >"${ROOTFS}/usr/share/udhcpc/default.script" <<'EOF'
#!/bin/sh
# busybox udhcpc hook (dovesnap test image)
case "$1" in
  deconfig) ip -4 addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" ${broadcast:+broadcast "$broadcast"} dev "$interface"
    if [ -n "$router" ]; then
      ip route del default dev "$interface" 2>/dev/null
      for r in $router; do ip route add default via "$r" dev "$interface"; break; done
    fi
    if [ -n "$dns" ]; then
      : >/etc/resolv.conf
      for d in $dns; do echo "nameserver $d" >>/etc/resolv.conf; done
    fi
    ;;
esac
exit 0
EOF
  chmod 755 "${ROOTFS}/usr/share/udhcpc/default.script"
}

make_rootfs() {
  ROOTFS="$(mktemp -d /tmp/dovesnap-rootfs.XXXXXX)"
  mkdir -p "${ROOTFS}"/{bin,etc,root,proc,sys,dev,run,var/run,usr/share/udhcpc}
  install -d -m 1777 "${ROOTFS}/tmp"
  install -m 755 "${BUSYBOX}" "${ROOTFS}/bin/busybox"
  link_applets
  write_etc
}

write_tar() {
  tar --numeric-owner --owner=0 --group=0 -C "${ROOTFS}" -c .
}

main() {
  if [[ "${1:-}" == "--tar" ]]; then
    [[ -n "${2:-}" ]] || die "--tar needs a file name"
    [[ -x "${BUSYBOX}" ]] || die "${BUSYBOX} missing: apt-get install busybox-static"
    trap cleanup EXIT
    make_rootfs
    write_tar >"$2"
    return 0
  fi
  if [[ "${1:-}" != "--force" ]] && image_current; then
    log "${IMAGE} is present (revision ${IMAGE_REVISION}); nothing to do"
    return 0
  fi
  [[ -x "${BUSYBOX}" ]] || die "${BUSYBOX} missing: apt-get install busybox-static"
  "${BUSYBOX}" --list >/dev/null 2>&1 || die "${BUSYBOX} is not a busybox binary"
  trap cleanup EXIT
  make_rootfs
  log "importing ${IMAGE} from $(find "${ROOTFS}" | wc -l) files"
  write_tar |
    docker import \
      -c 'ENV PATH=/bin' \
      -c 'CMD ["/bin/sh"]' \
      -c "LABEL ${LABEL_KEY}=${IMAGE_REVISION}" \
      - "${IMAGE}" >/dev/null
  docker run --rm --network none "${IMAGE}" sh -c 'busybox true && ls /tmp >/dev/null' ||
    die "${IMAGE} was imported but does not run"
  log "built ${IMAGE}"
}

main "$@"
