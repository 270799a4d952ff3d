import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../../lib/errors.ts';
import { DEFAULT_PATH_ENV, buildArgs, buildEnv, clampOomScoreAdj, decodeEnvValue, resolveCwd } from './process.ts';

describe('buildArgs()', () => {
  const cases: { name: string; command: string[]; args: string[]; image: { Entrypoint?: string[] | null; Cmd?: string[] | null }; want: string[] }[] = [
    { name: 'image entrypoint + cmd when nothing given', command: [], args: [], image: { Entrypoint: ['/ep'], Cmd: ['a', 'b'] }, want: ['/ep', 'a', 'b'] },
    { name: 'args alone replace Cmd, keep Entrypoint', command: [], args: ['x'], image: { Entrypoint: ['/ep'], Cmd: ['a'] }, want: ['/ep', 'x'] },
    { name: 'command replaces Entrypoint and drops Cmd', command: ['/bin/sh'], args: [], image: { Entrypoint: ['/ep'], Cmd: ['a'] }, want: ['/bin/sh'] },
    { name: 'command + args', command: ['/bin/sh'], args: ['-c', 'true'], image: { Entrypoint: ['/ep'], Cmd: ['a'] }, want: ['/bin/sh', '-c', 'true'] },
    { name: 'image Cmd only', command: [], args: [], image: { Cmd: ['sh'] }, want: ['sh'] },
    { name: 'Entrypoint [""] means none', command: [], args: [], image: { Entrypoint: [''], Cmd: ['sh'] }, want: ['sh'] },
    { name: 'null Entrypoint and Cmd with args', command: [], args: ['run'], image: { Entrypoint: null, Cmd: null }, want: ['run'] },
  ];
  for (const c of cases) {
    it(`buildArgs() ${c.name}`, () => {
      assert.deepEqual(buildArgs(c.command, c.args, c.image), c.want);
    });
  }

  it('buildArgs() refuses an empty command line', () => {
    assert.throws(() => buildArgs([], [], {}), InvalidArgumentError);
    assert.throws(() => buildArgs([], [], { Entrypoint: [''] }), /no command specified/);
  });
});

describe('buildEnv()', () => {
  it('buildEnv() orders PATH, HOSTNAME, image, config and lets later keys win in place', () => {
    const env = buildEnv(
      ['PATH=/image/bin', 'A=image', 'B=image'],
      [{ key: 'A', value: Buffer.from('config') }, { key: 'C', value: Buffer.from('x=y') }],
      'web-0',
    );
    assert.deepEqual(env, ['PATH=/image/bin', 'HOSTNAME=web-0', 'A=config', 'B=image', 'C=x=y']);
  });

  it('buildEnv() starts from the default PATH', () => {
    assert.deepEqual(buildEnv([], [], 'h'), [DEFAULT_PATH_ENV, 'HOSTNAME=h']);
  });

  it('buildEnv() lets the config override HOSTNAME', () => {
    assert.deepEqual(buildEnv([], [{ key: 'HOSTNAME', value: Buffer.from('mine') }], 'h'), [DEFAULT_PATH_ENV, 'HOSTNAME=mine']);
  });

  it('buildEnv() refuses an empty key', () => {
    assert.throws(() => buildEnv([], [{ key: '', value: Buffer.from('v') }], 'h'), InvalidArgumentError);
  });
});

describe('decodeEnvValue()', () => {
  it('decodeEnvValue() decodes bytes and strings as UTF-8', () => {
    assert.equal(decodeEnvValue({ key: 'K', value: Buffer.from('grüße') }), 'grüße');
    assert.equal(decodeEnvValue({ key: 'K', value: 'plain' }), 'plain');
    assert.equal(decodeEnvValue({ key: 'K', value: new Uint8Array([0x61]) }), 'a');
  });

  it('decodeEnvValue() refuses non-UTF-8 bytes naming the key but not the value', () => {
    assert.throws(
      () => decodeEnvValue({ key: 'SECRET', value: Buffer.from([0xff, 0xfe]) }),
      (err: unknown) => err instanceof InvalidArgumentError && err.message.includes('"SECRET"') && !err.message.includes('\uFFFD'),
    );
  });
});

describe('resolveCwd()', () => {
  const cases = [
    { name: 'config wins', config: '/work', image: '/img', want: '/work' },
    { name: 'image when config empty', config: '', image: '/img', want: '/img' },
    { name: 'root when neither', config: '', image: undefined, want: '/' },
  ];
  for (const c of cases) {
    it(`resolveCwd() ${c.name}`, () => {
      assert.equal(resolveCwd({ working_dir: c.config }, c.image === undefined ? {} : { WorkingDir: c.image }), c.want);
    });
  }
  it('resolveCwd() refuses a relative directory', () => {
    assert.throws(() => resolveCwd({ working_dir: 'rel' }, {}), InvalidArgumentError);
  });
});

describe('clampOomScoreAdj()', () => {
  const cases: { requested: string | undefined; min: number; want: number | undefined }[] = [
    { requested: '-997', min: 0, want: 0 },
    { requested: '-997', min: -1000, want: -997 },
    { requested: '1000', min: 0, want: 1000 },
    { requested: '500', min: 600, want: 600 },
    { requested: undefined, min: 0, want: undefined },
  ];
  for (const c of cases) {
    it(`clampOomScoreAdj() ${String(c.requested)} with floor ${c.min} gives ${String(c.want)}`, () => {
      assert.equal(clampOomScoreAdj(c.requested, c.min), c.want);
    });
  }
  it('clampOomScoreAdj() refuses values outside -1000..1000', () => {
    assert.throws(() => clampOomScoreAdj('1001', 0), InvalidArgumentError);
    assert.throws(() => clampOomScoreAdj('abc', 0), InvalidArgumentError);
  });
});
