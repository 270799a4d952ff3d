/**
 * glibc's malloc_trim(0): hands the free pages of every malloc arena back to the kernel.
 * Image pulls, gRPC frames and child-process pipes leave megabytes free but mapped in
 * the arenas; glibc only trims the top of the main heap by itself (issue 5, memory).
 * The binding is resolved once at import: a constant, not state.
 */
import koffi from 'koffi';

const mallocTrimC = koffi.load('libc.so.6').func('int malloc_trim(size_t pad)');

/** True when some memory was released. */
export function mallocTrim(): boolean {
  return mallocTrimC(0) === 1;
}
