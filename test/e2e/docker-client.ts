/** Where scripts/engine/use.sh records the client of the engine it swapped in (when not Debian's). */
export const ENGINE_CLIENT_FILE = '/var/lib/dovesnap/engine.client';

/** What choosing the client looks at: the environment and the files on the host. */
export interface ClientSources {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The text of a file, or undefined when it cannot be read. */
  readonly readFile: (path: string) => string | undefined;
  readonly isExecutable: (path: string) => boolean;
}

/**
 * The docker CLI the end-to-end tests drive the engine with, the one made for it: Docker 29.0
 * refused the API version Debian's 20.10 client speaks (1.41), and a newer client refuses some
 * flags (e.g. --mac-address) against 20.10. So: $DOCKER when set; else the client use.sh
 * recorded for the engine it swapped in; else Debian's /usr/bin/docker; else whatever `docker`
 * PATH finds.
 */
export function chooseDockerClient(src: ClientSources): string {
  const fromEnv = src.env['DOCKER'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const recorded = src.readFile(ENGINE_CLIENT_FILE)?.trim();
  if (recorded !== undefined && recorded !== '') {
    // A record naming a client that is not there is a broken swap, not a reason to fall back to
    // a client that the engine may refuse in confusing ways.
    if (!src.isExecutable(recorded))
      throw new Error(
        `${ENGINE_CLIENT_FILE} names ${recorded}, which is not an executable: run scripts/engine/use.sh again`,
      );
    return recorded;
  }
  return src.isExecutable('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';
}
