import type { Command } from 'commander';
import { loadSettings } from '../config/settings.js';
import { DEFAULT_CLIENT, DEFAULT_DAYS, makeKeys, parseDays, runOpenssl } from '../confrpc/keys.js';
import { ownedByHost } from '../driver/dp-naming.js';
import { describeCalls, planLeave } from '../faucet/remote-plan.js';
import { sendRemoteCall } from '../faucet/remote-store.js';

/**
 * `dovesnap confrpc …`: faucetconfrpc, the gRPC service (mutual TLS) through which dovesnap on
 * other hosts writes this host's FAUCET configuration. `make up CONFRPC=1` runs its server.
 */

interface KeysFlags {
  readonly dir: string;
  readonly server: string;
  readonly client: readonly string[];
  readonly days: string;
  readonly force?: boolean;
  readonly newCa?: boolean;
}

export async function runKeys(flags: KeysFlags): Promise<void> {
  const clients = flags.client.length > 0 ? flags.client : [DEFAULT_CLIENT];
  const result = await makeKeys(
    {
      dir: flags.dir,
      server: flags.server,
      clients,
      days: parseDays(flags.days),
      force: flags.force === true || flags.newCa === true,
      newCa: flags.newCa === true,
    },
    runOpenssl,
  );
  const out: string[] = [];
  for (const f of result.made) out.push(`made ${f}`);
  for (const f of result.kept) out.push(`kept ${f}`);
  if (result.newCa && flags.newCa === true)
    out.push('a new CA: certificates the old one signed (other clients in the directory) are no longer trusted');
  for (const [name, files] of result.forClients)
    out.push(`a host whose dovesnap connects as ${name} needs: ${files.join(' ')}`);
  process.stdout.write(`${out.join('\n')}\n`);
}

/**
 * `dovesnap confrpc leave`: takes this host out of the shared FAUCET configuration, with its
 * daemon stopped (`make down-all` runs it): every DP its name says is this host's
 * (`<network>@<host>`, `dovesnap-<host>`; driver/dp-naming.ts) and the stack ports pointing at
 * them (faucet/remote-plan.ts planLeave). Settings as the daemon's (FAUCETCONFRPC_*, DOVESNAP_HOST_NAME).
 */
export async function runLeave(flags: { readonly dryRun?: boolean }): Promise<void> {
  const settings = loadSettings();
  const host = settings.dpHost;
  if (settings.confrpc === undefined || host === undefined) {
    process.stdout.write('FAUCETCONFRPC_ADDR is not set: this host writes no shared FAUCET configuration\n');
    return;
  }
  const { openConfrpc } = await import('../confrpc/client.js');
  const connection = openConfrpc(settings.confrpc);
  try {
    const calls = planLeave(await connection.api.getConfigFile(), ownedByHost(host));
    const words = describeCalls(calls);
    if (flags.dryRun !== true) for (const call of calls) await sendRemoteCall(connection.api, call);
    const lead = flags.dryRun === true ? 'would send' : 'sent';
    process.stdout.write(
      words.length === 0
        ? `no DP of host ${host} in FAUCET's configuration\n`
        : `${words.map((w) => `${lead} ${w}`).join('\n')}\n`,
    );
  } finally {
    connection.close();
  }
}

export function addConfrpcCommand(program: Command): void {
  const confrpc = program
    .command('confrpc')
    .description("faucetconfrpc: FAUCET's configuration over gRPC with mutual TLS, for dovesnap on other hosts");
  confrpc
    .command('keys')
    .description(
      "make the CA, the server's and the clients' certificates and keys (openssl) in DIR: ADDR-ca.crt/.key, ADDR.crt/.key, NAME.crt/.key; existing ones are kept, missing clients added with the same CA",
    )
    .requiredOption('--dir <dir>', 'where the files go (make up CONFRPC=1 uses /etc/dovesnap/confrpc)')
    .requiredOption(
      '--server <addr>',
      "the server's IP address or DNS name, as clients dial it (the certificate's subjectAltName)",
    )
    .option(
      '--client <name>',
      `a client certificate's name; repeat for several (default ${DEFAULT_CLIENT}, the daemon's FAUCETCONFRPC_CLIENT)`,
      (value: string, prev: string[]) => [...prev, value],
      [] as string[],
    )
    .option('--days <n>', 'how long the certificates are valid', String(DEFAULT_DAYS))
    .option('--force', "make the server's and the named clients' pairs anew, overwriting them, signed by the CA there")
    .option('--new-ca', 'with them a new CA too (certificates of the old one stop working); implies --force')
    .action(async (flags: KeysFlags) => runKeys(flags));
  confrpc
    .command('leave')
    .description(
      "remove this host's DPs (<network>@<host>, dovesnap-<host>) and the stack ports pointing at them from the FAUCET configuration on the faucetconfrpc server; run with the daemon stopped (make down-all does)",
    )
    .option('--dry-run', 'print the calls without sending them')
    .action(async (flags: { dryRun?: boolean }) => runLeave(flags));
}
