/**
 * Where attach keeps its records and its DHCP clients' files. Records live under /var/lib so
 * that `--persist` attachments outlive a reboot; DHCP pidfiles and leases are run-time state.
 */
export interface AttachPaths {
  readonly dir: string;
  readonly dhcpDir: string;
}

export function attachPaths(env: NodeJS.ProcessEnv = process.env): AttachPaths {
  return {
    dir: env['DOVESNAP_ATTACH_DIR'] ?? '/var/lib/dovesnap/attach',
    dhcpDir: env['DOVESNAP_ATTACH_DHCP_DIR'] ?? '/run/dovesnap/attach-dhcp',
  };
}
