import http from 'node:http';

/** A response as the daemon's readers use it: fetch()'s `ok`, `status` and `text()`. */
export interface TextResponse {
  readonly ok: boolean;
  readonly status: number;
  text(): Promise<string>;
}

/**
 * GET a URL with node's own HTTP client and read the whole body as UTF-8. The daemon reads
 * FAUCET's metrics this way rather than with the global fetch(): the first fetch() loads its
 * implementation (undici), which costs the process 3–6 MB of resident memory for as long as it
 * runs (docs/benchmarks.md, "Daemon memory, idle"). `https:` URLs go through node:https,
 * loaded only for them. `signal` aborts the request and the reading of its body.
 */
export async function httpGetText(url: string, init: { signal?: AbortSignal } = {}): Promise<TextResponse> {
  const client = url.startsWith('https:') ? await import('node:https') : http;
  return new Promise((resolve, reject) => {
    const req = client.get(url, { ...(init.signal === undefined ? {} : { signal: init.signal }) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        const body = Buffer.concat(chunks).toString('utf8');
        resolve({ ok: status >= 200 && status < 300, status, text: async () => body });
      });
    });
    req.on('error', reject);
  });
}
