/**
 * Enum fields. proto-loader (server/proto.ts, `enums: Number`) hands an enum number the
 * proto does not know through as that number, so every enum is checked against its known
 * values here, and the services' `switch`es never see one.
 */
import { NamespaceMode } from '../../generated/cri/runtime/v1/NamespaceMode.ts';
import { MountPropagation } from '../../generated/cri/runtime/v1/MountPropagation.ts';
import { Protocol } from '../../generated/cri/runtime/v1/Protocol.ts';
import { Signal } from '../../generated/cri/runtime/v1/Signal.ts';
import { SupplementalGroupsPolicy } from '../../generated/cri/runtime/v1/SupplementalGroupsPolicy.ts';
import { _runtime_v1_SecurityProfile_ProfileType as ProfileType } from '../../generated/cri/runtime/v1/SecurityProfile.ts';
import { invalid } from './field.ts';

type EnumObject = Readonly<Record<string, number>>;

/**
 * Throws unless `value` is one of `allowed` (default: every value of `known`). The error
 * lists the allowed names, so a client sees what it may send.
 */
export function checkEnum(path: string, value: unknown, known: EnumObject, allowed?: readonly number[]): void {
  const ok = allowed ?? Object.values(known);
  if (typeof value === 'number' && ok.includes(value)) return;
  const names = Object.entries(known).filter(([, n]) => ok.includes(n)).map(([name]) => name);
  const list = names.length > 8 ? `${names.slice(0, 4).join(', ')}, … (${names.length} values)` : names.join(', ');
  throw invalid(path, value, `is not one of ${list}`);
}

export const ENUMS = { NamespaceMode, MountPropagation, Protocol, Signal, SupplementalGroupsPolicy, ProfileType } as const;
