import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { labJsonSchema, labJsonSchemaText } from '../../../src/lab/spec.js';

const REPO = new URL('../../../../', import.meta.url);

type Json = { [k: string]: unknown };

/** Every `properties` entry in the schema, with its path. */
function properties(node: unknown, path: string, out: [string, Json][] = []): [string, Json][] {
  if (Array.isArray(node)) for (const [i, n] of node.entries()) properties(n, `${path}[${i}]`, out);
  else if (node !== null && typeof node === 'object') {
    for (const [k, v] of Object.entries(node as Json)) {
      if (k === 'properties')
        for (const [name, p] of Object.entries(v as Json)) out.push([`${path}.${name}`, p as Json]);
      properties(v, `${path}/${k}`, out);
    }
  }
  return out;
}

describe('lab file JSON Schema', () => {
  it('schema/lab.schema.json is what src/lab/spec.ts defines (scripts/write-lab-schema.sh writes it)', () => {
    assert.equal(
      readFileSync(new URL('schema/lab.schema.json', REPO), 'utf8'),
      labJsonSchemaText(),
      'run scripts/write-lab-schema.sh',
    );
  });

  it('is draft 2020-12 with an $id and a title, strict objects, and a description on every key', () => {
    const s = labJsonSchema();
    assert.equal(s.$schema, 'https://json-schema.org/draft/2020-12/schema');
    assert.equal(s.$id, 'urn:dovesnap:schema:lab:1');
    assert.equal(typeof s.title, 'string');
    assert.equal(s.additionalProperties, false);
    assert.deepEqual(s.required, ['name', 'nodes']);
    const props = properties(s, '');
    assert.ok(props.length > 50, `${props.length} keys`);
    const bare = props
      .filter(([, p]) => typeof p.description !== 'string' || p.description === '')
      .map(([path]) => path);
    assert.deepEqual(bare, [], 'keys without a description');
    const defs = s.$defs as Record<string, Json>;
    for (const name of ['Network', 'Link', 'Node', 'NodeFields'])
      assert.equal(defs[name]?.additionalProperties, false, `${name} is strict`);
    assert.equal((defs.Node?.properties as Json | undefined)?.group !== undefined, true);
    assert.equal(
      (defs.NodeFields?.properties as Json | undefined)?.group,
      undefined,
      'defaults and groups cannot name a group',
    );
  });

  it('the fixtures point editors at the schema', () => {
    for (const f of ['ospf.lab.yaml', 'campus.lab.yaml']) {
      const first = readFileSync(new URL(`test/fixtures/lab/${f}`, REPO), 'utf8').split('\n')[0];
      assert.equal(first, '# yaml-language-server: $schema=../../../schema/lab.schema.json');
    }
  });
});
