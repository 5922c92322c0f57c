import { execFileSync } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Keys for a faucetconfrpc server and its clients, made with openssl in `dir` (a test's temp
 * directory), in the original dovesnap's layout: the server's `<addr>.crt`/`.key`, each client's
 * `<client>.crt`/`.key`, and the CA as `<addr>-ca.crt` (what a client's FAUCETCONFRPC_KEYDIR
 * holds) and `ca.crt` (the server's --cacert). `addr` is an IP address here (the SAN is IP:addr).
 * Kept small on purpose: `dovesnap confrpc keys` may replace it.
 */
export function makeConfrpcKeys(dir: string, addr: string, clients: readonly string[]): void {
  const openssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  };
  const key = (name: string): void =>
    openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`);
  key('ca');
  openssl('req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=dovesnap test CA', '-days', '2', '-out', 'ca.crt');
  const sign = (name: string): void => {
    key(name);
    openssl('req', '-new', '-key', `${name}.key`, '-subj', `/CN=${name}`, '-out', `${name}.csr`);
    openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.crt`,
    );
  };
  const ext = (name: string, text: string): void => {
    execFileSync('sh', ['-c', `printf '%s\\n' "$1" > "$2"`, 'sh', text, join(dir, `${name}.ext`)]);
  };
  ext(addr, `subjectAltName=IP:${addr}\nextendedKeyUsage=serverAuth`);
  sign(addr);
  for (const client of clients) {
    ext(client, `subjectAltName=DNS:${client}\nextendedKeyUsage=clientAuth`);
    sign(client);
  }
  copyFileSync(join(dir, 'ca.crt'), join(dir, `${addr}-ca.crt`));
}
