import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chooseDockerClient, ENGINE_CLIENT_FILE, type ClientSources } from '../../e2e/docker-client.js';

const ENGINE_CLIENT = '/opt/dovesnap/engines/docker-29/bin/docker';

function sources(
  env: Record<string, string>,
  files: Record<string, string>,
  executables: readonly string[],
): ClientSources {
  return { env, readFile: (path) => files[path], isExecutable: (path) => executables.includes(path) };
}

describe('the e2e tests’ docker client', () => {
  it('is the client use.sh recorded for the engine it swapped in, not Debian’s 20.10 one', () => {
    const src = sources({}, { [ENGINE_CLIENT_FILE]: `${ENGINE_CLIENT}\n` }, [ENGINE_CLIENT, '/usr/bin/docker']);
    assert.equal(chooseDockerClient(src), ENGINE_CLIENT);
  });

  it('is $DOCKER when set, whatever is recorded', () => {
    const src = sources({ DOCKER: '/tmp/docker' }, { [ENGINE_CLIENT_FILE]: ENGINE_CLIENT }, [ENGINE_CLIENT]);
    assert.equal(chooseDockerClient(src), '/tmp/docker');
  });

  it('is Debian’s /usr/bin/docker with no record (Debian’s engine), else docker from PATH', () => {
    assert.equal(chooseDockerClient(sources({}, {}, ['/usr/bin/docker'])), '/usr/bin/docker');
    assert.equal(
      chooseDockerClient(sources({}, { [ENGINE_CLIENT_FILE]: '\n' }, ['/usr/bin/docker'])),
      '/usr/bin/docker',
    );
    assert.equal(chooseDockerClient(sources({}, {}, [])), 'docker');
  });

  it('refuses a record naming a client that is not there, naming the file and the path', () => {
    const src = sources({}, { [ENGINE_CLIENT_FILE]: ENGINE_CLIENT }, ['/usr/bin/docker']);
    assert.throws(
      () => chooseDockerClient(src),
      (err: Error) => err.message.includes(ENGINE_CLIENT_FILE) && err.message.includes(ENGINE_CLIENT),
    );
  });
});
