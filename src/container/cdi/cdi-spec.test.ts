import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../lib/errors.ts';
import { isValidKind, parseCdiSpec, parseQualifiedName } from './cdi-spec.ts';

const JSON_SPEC = JSON.stringify({
  cdiVersion: '0.6.0', kind: 'example.com/null',
  containerEdits: { env: ['VENDOR=example'] },
  devices: [{ name: 'dev0', containerEdits: { deviceNodes: [{ path: '/dev/cdi-null', hostPath: '/dev/null', permissions: 'rw' }], additionalGids: [5] } }],
});

const YAML_SPEC = `cdiVersion: 0.8.0
kind: vendor.io/gpu
devices:
  - name: "0"
    containerEdits:
      mounts:
        - hostPath: /opt/lib
          containerPath: /usr/lib/vendor
          options: [ro, bind]
      hooks:
        - hookName: createContainer
          path: /usr/bin/vendor-hook
          args: [vendor-hook, create]
          timeout: 5
`;

test('parseCdiSpec() reads JSON and YAML specs with spec-level and device edits', () => {
  const j = parseCdiSpec(JSON_SPEC, 'a.json');
  assert.equal(j.kind, 'example.com/null');
  assert.deepEqual(j.containerEdits, { env: ['VENDOR=example'] });
  assert.deepEqual(j.devices[0], { name: 'dev0', containerEdits: { deviceNodes: [{ path: '/dev/cdi-null', hostPath: '/dev/null', permissions: 'rw' }], additionalGids: [5] } });
  const y = parseCdiSpec(YAML_SPEC, 'b.yaml');
  assert.equal(y.devices[0]?.name, '0');
  assert.deepEqual(y.devices[0]?.containerEdits.mounts, [{ hostPath: '/opt/lib', containerPath: '/usr/lib/vendor', options: ['ro', 'bind'] }]);
  assert.deepEqual(y.devices[0]?.containerEdits.hooks, [{ hookName: 'createContainer', path: '/usr/bin/vendor-hook', args: ['vendor-hook', 'create'], timeout: 5 }]);
});

const broken: [string, string, RegExp][] = [
  ['an unknown version', JSON_SPEC.replace('0.6.0', '0.9.0'), /cdiVersion "0.9.0"/],
  ['a kind without a class', JSON_SPEC.replace('example.com/null', 'example.com'), /kind "example.com"/],
  ['a bad device name', JSON_SPEC.replace('"dev0"', '"-x"'), /name "-x"/],
  ['a relative device path', JSON_SPEC.replace('"/dev/cdi-null"', '"dev/cdi-null"'), /deviceNodes\[0\]\.path "dev\/cdi-null" is not an absolute path/],
  ['a ".." in a path', JSON_SPEC.replace('"/dev/null"', '"/dev/../etc/passwd"'), /hostPath .* must not contain "\.\."/],
  ['bad permissions', JSON_SPEC.replace('"rw"', '"rwx"'), /permissions "rwx"/],
  ['an unknown hook', YAML_SPEC.replace('createContainer', 'preStart'), /hookName "preStart"/],
  ['an env entry without "="', JSON_SPEC.replace('VENDOR=example', 'VENDOR'), /env entry "VENDOR"/],
  ['a device defined twice', JSON.stringify({ cdiVersion: '0.3.0', kind: 'a.com/b', devices: [{ name: 'x', containerEdits: {} }, { name: 'x', containerEdits: {} }] }), /defined twice/],
  ['no devices', JSON.stringify({ cdiVersion: '0.3.0', kind: 'a.com/b', devices: [] }), /no devices/],
  ['text that is not YAML', '{ nope: [', /not JSON or YAML/],
  ['an unsupported edit', JSON.stringify({ cdiVersion: '0.8.0', kind: 'a.com/b', devices: [{ name: 'x', containerEdits: { netDevices: [{ hostInterfaceName: 'eth1', name: 'net1' }] } }] }), /netDevices is not supported/],
];
for (const [what, text, re] of broken) {
  test(`parseCdiSpec() refuses ${what}, naming the file`, () => {
    assert.throws(() => parseCdiSpec(text, '/etc/cdi/x.json'), (err: unknown) => err instanceof InvalidArgumentError && err.message.startsWith('CDI spec /etc/cdi/x.json: ') && re.test(err.message));
  });
}

test('parseQualifiedName() splits vendor.com/class=name and refuses partial names', () => {
  assert.deepEqual(parseQualifiedName('nvidia.com/gpu=all'), { kind: 'nvidia.com/gpu', name: 'all' });
  assert.deepEqual(parseQualifiedName('vendor.io/class=GPU-0:1'), { kind: 'vendor.io/class', name: 'GPU-0:1' });
  for (const bad of ['gpu0', 'nvidia.com/gpu', 'nvidia.com=gpu', '/gpu=0', 'nvidia.com/gpu=', 'nvidia.com/g/x=0']) {
    assert.throws(() => parseQualifiedName(bad), InvalidArgumentError, bad);
  }
  assert.equal(isValidKind('a.b-c_d/e_f-1'), true);
  assert.equal(isValidKind('a.b/1x'), false);
});
