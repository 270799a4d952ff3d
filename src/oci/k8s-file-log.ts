/**
 * Reading back conmon's k8s-file log (the CRI log format, kubelet's
 * pkg/kubelet/kuberuntime/logs): `TIMESTAMP STREAM P|F CONTENT\n`. A `P` record is a
 * partial line whose newline was not part of the output; an `F` record ends a line, so its
 * newline belongs to the output. Used for ExecSync with a tty, where conmon cannot pass the
 * output through and only writes this log.
 */

export interface SplitOutput {
  stdout: Buffer;
  stderr: Buffer;
}

const SPACE = 0x20;
const NEWLINE = 0x0a;

/** Splits a k8s-file log back into stdout and stderr bytes, each capped at `cap` bytes. */
export function splitK8sFileLog(log: Buffer, cap: number): SplitOutput {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let outLen = 0;
  let errLen = 0;
  let pos = 0;
  while (pos < log.length) {
    let end = log.indexOf(NEWLINE, pos);
    if (end < 0) end = log.length;
    const record = log.subarray(pos, end);
    pos = end + 1;
    const s1 = record.indexOf(SPACE);
    const s2 = s1 < 0 ? -1 : record.indexOf(SPACE, s1 + 1);
    const s3 = s2 < 0 ? -1 : record.indexOf(SPACE, s2 + 1);
    if (s3 < 0) continue;
    const stream = record.subarray(s1 + 1, s2).toString('latin1');
    const tag = record.subarray(s2 + 1, s3).toString('latin1');
    const content = record.subarray(s3 + 1);
    const pieces = tag.startsWith('F') ? [content, Buffer.from('\n')] : [content];
    for (const piece of pieces) {
      if (stream === 'stdout' && outLen < cap) {
        out.push(piece.subarray(0, cap - outLen));
        outLen += Math.min(piece.length, cap - outLen);
      } else if (stream === 'stderr' && errLen < cap) {
        err.push(piece.subarray(0, cap - errLen));
        errLen += Math.min(piece.length, cap - errLen);
      }
    }
  }
  return { stdout: Buffer.concat(out), stderr: Buffer.concat(err) };
}
