/**
 * `node dist/tools/check-layers.js`: the layer check (tools/layers.ts) over src/, run by
 * scripts/test.sh. Prints each problem and exits 1, or prints a one-line summary.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkLayers, LAYERS } from './layers.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));

async function sources(): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const entry of await readdir(join(root, 'src'), { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const path = join(entry.parentPath, entry.name);
    files.set(relative(root, path), await readFile(path, 'utf8'));
  }
  return files;
}

const files = await sources();
const problems = checkLayers(files);
if (problems.length > 0) {
  for (const p of problems) console.error(p);
  console.error(`layer check: ${problems.length} problem(s)`);
  process.exit(1);
}
console.log(`layer check: ${files.size} modules in ${LAYERS.length} layers, imports only go down, no cycles`);
