/**
 * `namespace_options.userns_options` (KEP-127): mode NODE (the host's user namespace) or POD
 * with the kubelet's uid and gid mappings. CONTAINER and TARGET have no meaning for a user
 * namespace and are refused, as containerd and CRI-O do. Mappings must be non-empty when
 * the mode is POD, each with a length above zero, within the 32-bit id space, without two
 * ranges overlapping on either side (the kernel would refuse the uid_map write), and with
 * container id 0 mapped: the kubelet always maps it, and a pod without a root has no owner
 * for its own files.
 */
import type { UserNamespace__Output } from '../../generated/cri/runtime/v1/UserNamespace.ts';
import type { IDMapping__Output } from '../../generated/cri/runtime/v1/IDMapping.ts';
import { at, invalid } from './field.ts';
import { checkEnum, ENUMS } from './enums.ts';

const { NamespaceMode: M } = ENUMS;
/** uid_t is 32 bits; 2^32 - 1 is (uid_t)-1, never a real id. */
const ID_SPACE = 4294967295;

function checkMappings(path: string, maps: readonly IDMapping__Output[]): void {
  if (maps.length === 0) throw invalid(path, [], 'mode POD needs at least one mapping');
  for (const [i, m] of maps.entries()) {
    if (m.length === 0) throw invalid(at(at(path, i), 'length'), m.length, 'must be greater than 0');
    for (const side of ['container_id', 'host_id'] as const) {
      if (m[side] + m.length > ID_SPACE) throw invalid(at(at(path, i), side), m[side], `with length ${m.length} leaves the 32-bit id space`);
    }
  }
  for (const side of ['container_id', 'host_id'] as const) {
    const sorted = maps.map((m, i) => ({ m, i })).sort((a, b) => a.m[side] - b.m[side]);
    for (let k = 1; k < sorted.length; k++) {
      const prev = sorted[k - 1]!;
      const cur = sorted[k]!;
      if (prev.m[side] + prev.m.length > cur.m[side]) {
        throw invalid(at(at(path, cur.i), side), cur.m[side], `overlaps mapping ${prev.i} (${side} ${prev.m[side]}, length ${prev.m.length})`);
      }
    }
  }
  if (!maps.some((m) => m.container_id === 0)) throw invalid(path, maps.map((m) => m.container_id), 'container id 0 must be mapped');
}

export function checkUserNamespace(path: string, u: UserNamespace__Output | null): void {
  if (!u) return;
  checkEnum(at(path, 'mode'), u.mode, M, [M.POD, M.NODE]);
  if (u.mode === M.NODE) {
    if (u.uids.length > 0 || u.gids.length > 0) throw invalid(at(path, 'uids'), u.uids.length, 'mappings are only allowed with mode POD');
    return;
  }
  checkMappings(at(path, 'uids'), u.uids);
  checkMappings(at(path, 'gids'), u.gids);
}
