/** errno numbers to their names, for errors raised from raw libc calls (koffi). */
import { constants } from 'node:os';

const NAMES: ReadonlyMap<number, string> = new Map(Object.entries(constants.errno).map(([name, num]) => [num, name]));

/** `ENOENT` for 2; `E<n>` for a number Node does not name. */
export function errnoName(num: number): string {
  return NAMES.get(num) ?? `E${num}`;
}
