import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkLayers, parseImports, type LayerRow } from './layers.ts';

const TABLE: LayerRow[] = [
  { dir: 'server', rank: 3, cri: true, role: 'handlers' },
  { dir: 'pods', rank: 2, cri: true, role: 'a service' },
  { dir: 'images', rank: 2, cri: true, role: 'another service' },
  { dir: 'store', rank: 1, cri: false, role: 'a lower layer' },
  { dir: 'generated', rank: 0, cri: false, role: 'CRI types' },
];

const tree = (files: Record<string, string>): Map<string, string> => new Map(Object.entries({
  'src/server/a.ts': "import { p } from '../pods/p.ts';\nimport type { R } from '../generated/r.ts';",
  'src/pods/p.ts': "import { s } from '../store/s.ts';",
  'src/images/i.ts': "import { s } from '../store/deep/s2.ts';",
  'src/store/s.ts': 'export const s = 1;',
  'src/store/deep/s2.ts': "import { s } from '../s.ts';",
  'src/generated/r.ts': 'export interface R { x: number }',
  ...files,
}));

test('parseImports() finds static, multi-line, type-only, re-export, side-effect and dynamic imports, not commented ones', () => {
  const src = [
    "import { a } from './a.ts';",
    'import {',
    '  b,',
    "  type B } from '../b/b.ts';",
    "import type { C } from './c.ts';",
    "export { d } from './d.ts';",
    "export type { E } from './e.ts';",
    "import './side.ts';",
    "const f = await import('./f.ts');",
    "// import { g } from './g.ts';",
    "/* import { h } from './h.ts'; */",
    "const s = 'not an import from \"./x.ts\"';",
  ].join('\n');
  assert.deepEqual(parseImports(src).map((r) => `${r.specifier}${r.typeOnly ? ' (type)' : ''}`).sort(), [
    '../b/b.ts', './a.ts', './c.ts (type)', './d.ts', './e.ts (type)', './f.ts', './side.ts',
  ]);
});

test('checkLayers(): a tree that follows the table is clean', () => {
  assert.deepEqual(checkLayers(tree({}), TABLE), []);
});

test('checkLayers(): an import up, or sideways to a peer, is named with both ranks', () => {
  const problems = checkLayers(tree({
    'src/store/up.ts': "import { a } from '../server/a.ts';",
    'src/pods/side.ts': "import type { I } from '../images/i.ts';",
  }), TABLE);
  assert.deepEqual(problems, [
    'src/store/up.ts imports src/server/a.ts: server/ (rank 3) is a higher layer of store/ (rank 1); imports only go down',
    'src/pods/side.ts imports src/images/i.ts: images/ (rank 2) is a peer of pods/ (rank 2); imports only go down',
  ]);
});

test('checkLayers(): CRI types below the services, a module outside src/ or directly in it', () => {
  const problems = checkLayers(tree({
    'src/store/cri.ts': "import type { R } from '../generated/r.ts';",
    'src/pods/fixture.ts': "import { f } from '../../test/fixtures/f.ts';",
    'src/loose.ts': 'export const x = 1;',
  }), TABLE);
  assert.deepEqual(problems, [
    "src/store/cri.ts imports CRI types (src/generated/r.ts): store/ speaks its own types, not CRI's (only server/ and the services may)",
    'src/pods/fixture.ts imports test/fixtures/f.ts: src/ must not import from outside src/',
    'src/loose.ts: a module directly in src/; put it in a directory of the layer table',
  ]);
});

test('checkLayers(): a directory without a row, and a row without a directory', () => {
  const files = tree({ 'src/newdir/n.ts': "import { s } from '../store/s.ts';" });
  files.delete('src/images/i.ts');
  assert.deepEqual(checkLayers(files, TABLE), [
    'src/newdir/ has no row in the layer table (tools/layers.ts): place it',
    'the layer table names src/images/, which has no module',
  ]);
});

test('checkLayers(): a cycle of value imports inside a layer is reported; one through a type-only import is not', () => {
  const cyclic = checkLayers(tree({
    'src/store/x.ts': "import { y } from './y.ts';",
    'src/store/y.ts': "import { z } from './z.ts';",
    'src/store/z.ts': "import { x } from './x.ts';",
  }), TABLE);
  assert.deepEqual(cyclic, ['import cycle: src/store/x.ts → src/store/y.ts → src/store/z.ts → src/store/x.ts']);
  const typeOnly = checkLayers(tree({
    'src/store/x.ts': "import { y } from './y.ts';",
    'src/store/y.ts': "import type { X } from './x.ts';",
  }), TABLE);
  assert.deepEqual(typeOnly, []);
});
