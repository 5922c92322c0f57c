import { parseDocument } from 'yaml';
import {
  ConfrpcError,
  type ConfrpcApi,
  type DpYaml,
  type InterfaceNumbers,
  type InterfacesYaml,
} from '../../src/confrpc/api.js';
import { type RemoteCall, serverMerge, yamlText } from '../../src/faucet/remote-plan.js';

/**
 * faucetconfrpc's semantics on a document in memory: merges as its `_yaml_merge`, deletes one
 * key path before a merge, replaces whole DPs and interfaces, deletes DPs with the far ends of
 * their stack links. test/contract/confrpc-store.test.ts runs the real server.
 */
type Doc = Map<unknown, unknown>;

function parse(text: string): Doc {
  return (parseDocument(text, { version: '1.1', intAsBigInt: true }).toJS({ mapAsMap: true }) ?? new Map()) as Doc;
}

function dps(doc: Doc): Doc {
  return doc.get('dps') as Doc;
}

function ifs(doc: Doc, name: string): Doc {
  return (dps(doc).get(name) as Doc).get('interfaces') as Doc;
}

/** The text after `calls`, as the server would make it. */
export function serve(text: string, calls: readonly RemoteCall[]): string {
  const fake = new FakeConfrpc(text);
  for (const call of calls) fake.apply(call);
  return fake.text;
}

export class FakeConfrpc implements ConfrpcApi {
  private doc: Doc;
  /** While true, every call fails as a server that cannot be reached. */
  down = false;
  /** A write this returns a message for is refused with it. */
  refuse: ((doc: Doc) => string | undefined) | undefined;
  /** Calls made, by name. */
  readonly calls: string[] = [];

  constructor(text = '') {
    this.doc = parse(text);
  }

  get text(): string {
    return yamlText(this.doc);
  }

  apply(call: RemoteCall): void {
    switch (call.kind) {
      case 'merge':
        this.doc = serverMerge(this.doc, parse(call.yaml)) as Doc;
        return;
      case 'delDps':
        for (const name of call.names) {
          for (const port of ifs(this.doc, name).values()) {
            const stack = (port as Doc).get('stack') as Doc | undefined;
            if (stack !== undefined) ifs(this.doc, String(stack.get('dp'))).delete(stack.get('port'));
          }
          dps(this.doc).delete(name);
        }
        return;
      case 'delInterfaces':
        for (const d of call.dps) for (const p of d.ports) ifs(this.doc, d.dp).delete(BigInt(p));
        return;
      case 'setDps':
        for (const d of call.dps) dps(this.doc).set(d.name, parse(d.yaml));
        return;
      case 'setInterfaces':
        for (const d of call.dps) for (const p of d.ports) ifs(this.doc, d.dp).set(BigInt(p.number), parse(p.yaml));
        return;
      case 'replace':
        (this.doc.get(call.section) as Doc).delete(call.key);
        this.doc = serverMerge(this.doc, parse(call.yaml)) as Doc;
        return;
      case 'remove':
        (this.doc.get(call.section) as Doc).delete(call.key);
        return;
      case 'removeSection':
        this.doc.delete(call.section);
        return;
    }
  }

  private async write(name: string, call: RemoteCall): Promise<void> {
    this.calls.push(name);
    if (this.down) throw new ConfrpcError('unreachable', name, 'connect ECONNREFUSED');
    const before = this.doc;
    this.apply(call);
    const why = this.refuse?.(this.doc);
    if (why !== undefined) {
      this.doc = before;
      throw new ConfrpcError('refused', name, `faucetconfrpc ${name}: Cannot set FAUCET config: ${why}`);
    }
  }

  async getConfigFile(): Promise<string> {
    this.calls.push('GetConfigFile');
    if (this.down) throw new ConfrpcError('unreachable', 'GetConfigFile', 'connect ECONNREFUSED');
    return this.text;
  }

  setConfigFile(yaml: string, opts: { merge: boolean; delKeys?: readonly (string | number)[] }): Promise<void> {
    const keys = opts.delKeys;
    if (keys === undefined) return this.write('SetConfigFile', { kind: 'merge', yaml, what: [] });
    const [section, key] = keys as ['vlans' | 'acls', string | undefined];
    if (key === undefined) return this.write('SetConfigFile', { kind: 'removeSection', section });
    return this.write(
      'SetConfigFile',
      yaml === '{}' ? { kind: 'remove', section, key } : { kind: 'replace', section, key, yaml },
    );
  }

  setDps(list: readonly DpYaml[]): Promise<void> {
    return this.write('SetDps', { kind: 'setDps', dps: list });
  }

  delDps(names: readonly string[]): Promise<void> {
    return this.write('DelDps', { kind: 'delDps', names });
  }

  setDpInterfaces(list: readonly InterfacesYaml[]): Promise<void> {
    return this.write('SetDpInterfaces', { kind: 'setInterfaces', dps: list });
  }

  delDpInterfaces(list: readonly InterfaceNumbers[]): Promise<void> {
    return this.write('DelDpInterfaces', { kind: 'delInterfaces', dps: list });
  }
}
