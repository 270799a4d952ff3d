/**
 * The AppArmor profile of a container (cri-api.md §4 item 11; issue 12 class 5; containerd
 * internal/cri/server/podsandbox sputil GenerateApparmorSpecOpts). Pure: which profiles are
 * loaded is a host fact the caller reads.
 */
import type { LinuxContainerSecurityContext__Output } from '../../generated/cri/runtime/v1/LinuxContainerSecurityContext.ts';
import { _runtime_v1_SecurityProfile_ProfileType as ProfileType } from '../../generated/cri/runtime/v1/SecurityProfile.ts';
import { FailedPreconditionError, InvalidArgumentError } from '../../lib/errors.ts';
import { isValidProfileName } from '../../lib/apparmor-name.ts';
import { quoteBounded } from '../../storage/errors.ts';

const LOCALHOST_PREFIX = 'localhost/';

/** What the AppArmor choice needs to know about the host (HostFacts). */
export interface AppArmorHost {
  apparmorEnabled: boolean;
  /** Profiles loaded in the kernel, read per CreateContainer; absent = not checked. */
  apparmorProfiles?: ReadonlySet<string>;
}

type AppArmorRequest = { type: number; name: string } | undefined;

/** A Localhost ref is a profile NAME (cri-api.md §4 item 11); "localhost/" is tolerated, as containerd trims it. */
function localhostName(ref: string): string {
  const name = ref.startsWith(LOCALHOST_PREFIX) ? ref.slice(LOCALHOST_PREFIX.length) : ref;
  if (name === '') throw new InvalidArgumentError('apparmor Localhost profile needs a localhost_ref');
  if (!isValidProfileName(name)) throw new InvalidArgumentError(`apparmor profile ${quoteBounded(name)} is not a valid AppArmor profile name`);
  return name;
}

/**
 * The request: the `apparmor` SecurityProfile when present, else the deprecated
 * `apparmor_profile` string (the kubelet sends both, alike; containerd reads the field
 * first). Undefined when neither says anything.
 */
function appArmorRequest(sc: LinuxContainerSecurityContext__Output | null): AppArmorRequest {
  if (sc?.apparmor != null) {
    const { profile_type: type, localhost_ref: ref } = sc.apparmor;
    if (type === ProfileType.Localhost) return { type, name: localhostName(ref) };
    if (ref !== '') throw new InvalidArgumentError('apparmor localhost_ref may only be set with profile_type Localhost');
    if (type !== ProfileType.Unconfined && type !== ProfileType.RuntimeDefault) throw new InvalidArgumentError(`unknown apparmor profile_type ${String(type)}`);
    return { type, name: '' };
  }
  const legacy = sc?.apparmor_profile ?? '';
  if (legacy === '') return undefined;
  if (legacy === 'unconfined') return { type: ProfileType.Unconfined, name: '' };
  if (legacy === 'runtime/default') return { type: ProfileType.RuntimeDefault, name: '' };
  if (legacy.startsWith(LOCALHOST_PREFIX)) return { type: ProfileType.Localhost, name: localhostName(legacy) };
  throw new InvalidArgumentError(`invalid apparmor profile ${quoteBounded(legacy)} (want runtime/default, unconfined or localhost/<name>)`);
}

/**
 * The AppArmor profile name for process.apparmorProfile, or undefined for none (issue 12
 * class 5; containerd sputil GenerateApparmorSpecOpts):
 * - unset or RuntimeDefault: `defaultProfile` (kubernetes#51746), except for privileged
 *   containers; refused when that profile is not loaded, rather than running unconfined;
 * - Unconfined: none;
 * - Localhost: that profile, also for privileged containers; refused when not loaded.
 * Without AppArmor on the host, RuntimeDefault and unset mean none (as CRI-O, and as
 * containerd for unset) and Localhost is refused: a profile asked for by name cannot be
 * silently dropped.
 */
export function chooseApparmorProfile(
  sc: LinuxContainerSecurityContext__Output | null,
  host: AppArmorHost,
  defaultProfile: string | undefined,
): string | undefined {
  const req = appArmorRequest(sc);
  if (!host.apparmorEnabled) {
    if (req?.type === ProfileType.Localhost) throw new FailedPreconditionError(`AppArmor is not enabled on this host; cannot apply profile ${quoteBounded(req.name)}`);
    return undefined;
  }
  const loaded = (name: string): boolean => host.apparmorProfiles === undefined || host.apparmorProfiles.has(name);
  if (req?.type === ProfileType.Unconfined) return undefined;
  if (req?.type === ProfileType.Localhost) {
    if (!loaded(req.name)) throw new FailedPreconditionError(`AppArmor profile ${quoteBounded(req.name)} is not loaded on this host`);
    return req.name;
  }
  if (sc?.privileged === true || defaultProfile === undefined || defaultProfile === 'unconfined') return undefined;
  if (!loaded(defaultProfile)) {
    throw new FailedPreconditionError(`the default AppArmor profile ${quoteBounded(defaultProfile)} is not loaded on this host (see the daemon log and "critter check")`);
  }
  return defaultProfile;
}
