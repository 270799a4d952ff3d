import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FailedPreconditionError } from '../lib/errors.ts';
import { ARGV_TOTAL_MAX, ENV_TOTAL_MAX, MAX_ARG_STRLEN, PATH_MAX, VOLUMES_MAX, checkImageConfig, imageLabel } from './image-config.ts';

const IMAGE = imageLabel('registry.test/hostile:latest', 'sha256:0123456789abcdef0123');

/** Asserts FAILED_PRECONDITION naming the image and each needle, in a bounded message. */
function refused(config: unknown, ...needles: (string | RegExp)[]): void {
  assert.throws(() => checkImageConfig(IMAGE, config), (err: Error) => {
    assert.ok(err instanceof FailedPreconditionError, `${err.name}: ${err.message}`);
    assert.ok(err.message.startsWith('image "registry.test/hostile:latest" (0123456789ab) is unusable: config '), err.message);
    for (const n of needles) {
      if (typeof n === 'string') assert.ok(err.message.includes(n), `"${err.message}" should mention ${n}`);
      else assert.match(err.message, n);
    }
    assert.ok(err.message.length < 1024, `unbounded message: ${err.message.length} characters`);
    return true;
  });
}

describe('checkImageConfig()', () => {
  it('checkImageConfig() keeps a well-formed config as it is', () => {
    const config = {
      User: 'app:app', WorkingDir: '/srv', Entrypoint: ['/bin/sh', '-c'], Cmd: ['echo "a\nb"'], Env: ['PATH=/bin', 'EMPTY=', 'MULTI=line1\nline2'],
      Volumes: { '/data': {} }, StopSignal: 'SIGQUIT', Labels: { a: 'b' }, ExposedPorts: { '80/tcp': {} },
    };
    assert.deepEqual(checkImageConfig(IMAGE, config), {
      User: 'app:app', WorkingDir: '/srv', Entrypoint: ['/bin/sh', '-c'], Cmd: ['echo "a\nb"'], Env: ['PATH=/bin', 'EMPTY=', 'MULTI=line1\nline2'],
      Volumes: { '/data': {} }, StopSignal: 'SIGQUIT',
    });
  });

  it('checkImageConfig() accepts an absent, null or empty config and null fields', () => {
    assert.deepEqual(checkImageConfig(IMAGE, undefined), {});
    assert.deepEqual(checkImageConfig(IMAGE, null), {});
    assert.deepEqual(checkImageConfig(IMAGE, { Entrypoint: null, Cmd: null, Env: null, Volumes: null, WorkingDir: '', StopSignal: '' }), { WorkingDir: '', StopSignal: '' });
  });

  it('checkImageConfig() returns a copy, not the frozen stored lists', () => {
    const stored = Object.freeze({ Cmd: Object.freeze(['sh']) });
    const out = checkImageConfig(IMAGE, stored);
    assert.notEqual(out.Cmd, stored.Cmd);
  });

  it('checkImageConfig() refuses a config or field of the wrong JSON type', () => {
    refused('x', 'is not a JSON object');
    refused({ Env: 'PATH=/bin' }, 'Env is a string, not a list of strings');
    refused({ Cmd: ['sh', 3] }, 'Cmd[1] is a number, not a string');
    refused({ Entrypoint: { a: 1 } }, 'Entrypoint is a object');
    refused({ WorkingDir: ['/'] }, 'WorkingDir is a list, not a string');
    refused({ User: 0 }, 'User is a number');
    refused({ Volumes: ['/data'] }, 'Volumes is not a JSON object');
    refused({ StopSignal: 9 }, 'StopSignal is a number');
  });

  it('checkImageConfig() refuses a WorkingDir that is relative, has a NUL or a newline, or is too long', () => {
    refused({ WorkingDir: 'srv' }, 'WorkingDir "srv" is not an absolute path');
    refused({ WorkingDir: '/srv\u0000x' }, 'WorkingDir "/srv\\u0000x" contains a NUL byte');
    refused({ WorkingDir: '/srv\nx' }, 'contains a newline');
    refused({ WorkingDir: `/${'w'.repeat(PATH_MAX)}` }, `(${PATH_MAX + 1} characters)`, 'is too long', `at most ${PATH_MAX - 1}`);
    assert.equal(checkImageConfig(IMAGE, { WorkingDir: `/${'w'.repeat(PATH_MAX - 2)}` }).WorkingDir?.length, PATH_MAX - 1);
  });

  it('checkImageConfig() refuses Entrypoint and Cmd with NUL bytes, overlong arguments or too much in all', () => {
    refused({ Entrypoint: ['/bin/sh', 'a\u0000b'] }, 'Entrypoint[1] "a\\u0000b" contains a NUL byte');
    refused({ Cmd: ['x'.repeat(MAX_ARG_STRLEN)] }, 'Cmd[0] is too long');
    const quarter = 'x'.repeat(MAX_ARG_STRLEN - 1);
    refused({ Entrypoint: Array(5).fill(quarter), Cmd: Array(4).fill(quarter) }, 'Entrypoint and Cmd total', `over ${ARGV_TOTAL_MAX}`);
    assert.equal(checkImageConfig(IMAGE, { Cmd: [quarter] }).Cmd?.length, 1);
  });

  it('checkImageConfig() refuses bad Env entries naming the key, never the value', () => {
    const secret = 's3cr3t-value';
    refused({ Env: [`TOKEN=${secret}\u0000`] }, 'Env[0] "TOKEN" has a NUL byte in its value');
    refused({ Env: ['PATH=/bin', 'NOEQUALS'] }, 'Env[1] "NOEQUALS" has no "="');
    refused({ Env: [`=${secret}`] }, 'Env[0] has an empty name');
    refused({ Env: ['A\u0000B=x'] }, 'has a NUL byte in its name');
    refused({ Env: ['A\nB=x'] }, 'has a newline in its name');
    refused({ Env: [`BIG=${'v'.repeat(MAX_ARG_STRLEN)}`] }, 'Env[0] "BIG" is too long');
    const entry = `K=${'v'.repeat(MAX_ARG_STRLEN - 10)}`;
    refused({ Env: Array(9).fill(entry) }, 'Env totals', `over ${ENV_TOTAL_MAX}`);
    for (const env of [[`TOKEN=${secret}\u0000`], [`=${secret}`]]) {
      assert.throws(() => checkImageConfig(IMAGE, { Env: env }), (err: Error) => !err.message.includes(secret));
    }
  });

  it('checkImageConfig() refuses a User with a NUL, a newline or an overlong name', () => {
    refused({ User: 'root\u0000' }, 'User "root\\u0000" contains a NUL byte');
    refused({ User: 'root\nx' }, 'contains a newline');
    refused({ User: `app:${'g'.repeat(300)}` }, 'longer than 255 characters', '(304 characters)');
  });

  it('checkImageConfig() refuses Volumes that are relative, have a NUL or a newline, are too long or too many', () => {
    refused({ Volumes: { data: {} } }, 'Volumes: image volume "data" is not an absolute path');
    refused({ Volumes: { '/vol\u0000x': {} } }, 'image volume "/vol\\u0000x" contains a NUL byte');
    refused({ Volumes: { '/a\nb': {} } }, 'contains a newline');
    refused({ Volumes: { [`/${'v'.repeat(5000)}`]: {} } }, `image volume "/${'v'.repeat(100)}`, '(5001 characters)', 'too long');
    refused({ Volumes: Object.fromEntries(Array.from({ length: VOLUMES_MAX + 1 }, (_, i) => [`/v${i}`, {}])) }, `declares ${VOLUMES_MAX + 1} volumes`);
  });

  it('checkImageConfig() accepts signal names and numbers and refuses anything else', () => {
    for (const ok of ['SIGTERM', 'quit', '9', 'SIGRTMIN+3', 'SIGRTMAX-14', 'SIGWINCH']) assert.equal(checkImageConfig(IMAGE, { StopSignal: ok }).StopSignal, ok);
    refused({ StopSignal: 'SIGFOO' }, 'StopSignal "SIGFOO" is not a known signal');
    refused({ StopSignal: '99' }, 'is not a known signal number');
    refused({ StopSignal: 'SIGTERM\u0000' }, 'is not a known signal');
    refused({ StopSignal: 'S'.repeat(10_000) }, 'is not a signal name', '(10000 characters)');
  });
});

describe('imageLabel()', () => {
  it('imageLabel() names the reference, bounded, and the short id', () => {
    assert.equal(imageLabel('busybox:1', 'sha256:abcdef0123456789'), '"busybox:1" (abcdef012345)');
    assert.equal(imageLabel('', 'abcdef0123456789'), 'abcdef012345');
    assert.match(imageLabel('r'.repeat(1000), 'abc'), /… \(1000 characters\) \(abc\)$/);
  });
});
