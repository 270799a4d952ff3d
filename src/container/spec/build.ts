/**
 * CreateContainer's OCI runtime spec (DESIGN "Containers"): pure — given the CRI configs,
 * the image config and files, the pod's shared namespaces and files, and host facts, it
 * returns config.json and the effective user for ContainerStatus.user. No I/O.
 */
import { FailedPreconditionError, InvalidArgumentError } from '../../lib/errors.ts';
import { buildAnnotations } from './annotations.ts';
import { applyCdiEdits, requestedCdiDevices } from './cdi.ts';
import { buildDevices } from './devices.ts';
import type { SpecInputs } from './inputs.ts';
import { buildMounts, criMounts, idmapBinds, podMounts, type IdmapBind } from './mounts.ts';
import { ociIdMappings } from '../../network/userns.ts';
import { buildNamespaces } from './namespaces.ts';
import type { OciSeccomp, OciSpec } from './oci-spec.ts';
import { buildArgs, buildEnv, clampOomScoreAdj, resolveCwd } from './process.ts';
import { buildResources, cgroupsPath } from './resources.ts';
import { chooseSeccomp, toOciSeccomp } from './seccomp.ts';
import { chooseApparmorProfile } from './apparmor.ts';
import { buildCapabilities } from './security.ts';
import { resolveUser, type EffectiveUser } from './user.ts';

/** runtime-spec version runc 1.1 and crun accept. */
const OCI_VERSION = '1.0.2';

export interface BuiltSpec {
  spec: OciSpec;
  /** Effective ids, reported in ContainerStatus.user.linux (CRI 1.31). */
  user: EffectiveUser;
  /** Id-mapped bind sources to stage before the runtime creates the container (pods with a user namespace). */
  idmapBinds: IdmapBind[];
}

export function buildSpec(inputs: SpecInputs): BuiltSpec {
  const { config, sandboxConfig, image, pod, host, defaults } = inputs;
  if (config.metadata === null || config.metadata.name === '') throw new InvalidArgumentError('container config has no metadata name');
  const sc = config.linux?.security_context ?? null;
  const privileged = sc?.privileged ?? false;
  // A privileged container needs a privileged sandbox (api.proto LinuxSandboxSecurityContext).
  if (privileged && sandboxConfig.linux?.security_context?.privileged !== true) {
    throw new InvalidArgumentError(`container ${JSON.stringify(config.metadata.name)} is privileged but its pod sandbox is not`);
  }

  const user = resolveUser(sc, image.User, inputs.etcPasswd, inputs.etcGroup);
  const capabilities = buildCapabilities(sc, defaults.defaultCapabilities, host.boundingCapabilities);
  const apparmorProfile = chooseApparmorProfile(sc, host, defaults.apparmorDefaultProfile);
  const oomScoreAdj = clampOomScoreAdj(config.linux?.resources?.oom_score_adj, host.minOomScoreAdj);

  const seccompChoice = chooseSeccomp(sc);
  let seccomp: OciSeccomp | undefined;
  if (seccompChoice.kind === 'runtime-default') {
    seccomp = toOciSeccomp(defaults.seccompDefaultProfile, host.arch, capabilities.bounding, 'RuntimeDefault');
  } else if (seccompChoice.kind === 'localhost') {
    if (inputs.localhostSeccompProfile === undefined) {
      throw new InvalidArgumentError(`seccomp Localhost profile ${JSON.stringify(seccompChoice.path)} was not loaded`);
    }
    seccomp = toOciSeccomp(inputs.localhostSeccompProfile, host.arch, capabilities.bounding, JSON.stringify(seccompChoice.path));
  }

  let criBinds = criMounts(config.mounts, inputs.imageVolumes, pod.userns);
  let staged: IdmapBind[] = [];
  if (pod.userns) {
    if (inputs.idmapStagingDir === undefined) throw new FailedPreconditionError(`pod ${pod.sandboxId} has a user namespace, but no staging dir for id-mapped mounts was given`);
    ({ binds: criBinds, staged } = idmapBinds(criBinds, inputs.idmapStagingDir));
  }
  const { mounts, rootfsPropagation } = buildMounts(
    criBinds,
    podMounts(pod, sc?.readonly_rootfs ?? false),
    privileged,
    host,
  );
  const { devices, rules } = buildDevices({
    devices: config.devices,
    privileged,
    devicesByHostPath: inputs.devicesByHostPath,
    hostDevices: host.hostDevices,
  });

  const spec: OciSpec = {
    ociVersion: OCI_VERSION,
    process: {
      terminal: config.tty,
      user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
      args: buildArgs(config.command, config.args, image),
      env: buildEnv(image.Env ?? [], config.envs, pod.hostname),
      cwd: resolveCwd(config, image),
      capabilities,
      noNewPrivileges: sc?.no_new_privs ?? false,
    },
    root: { path: inputs.rootfsPath, readonly: sc?.readonly_rootfs ?? false },
    mounts,
    annotations: buildAnnotations(config, sandboxConfig, pod.sandboxId, inputs.imageName),
    linux: {
      namespaces: buildNamespaces({ options: sc?.namespace_options ?? null, pod, cgroupVersion: host.cgroupVersion, privileged }),
      resources: { devices: rules, ...buildResources(config.linux?.resources ?? null, host) },
      cgroupsPath: cgroupsPath(pod.cgroupParent, inputs.containerId, host.cgroupDriver),
      devices,
      // Exactly as sent: the kubelet sends its defaults for procMount Default and empty lists
      // for Unmasked (cri-api.md §4 item 11). Privileged containers get none.
      maskedPaths: privileged ? [] : [...(sc?.masked_paths ?? [])],
      readonlyPaths: privileged ? [] : [...(sc?.readonly_paths ?? [])],
    },
  };
  if (oomScoreAdj !== undefined) spec.process.oomScoreAdj = oomScoreAdj;
  if (apparmorProfile !== undefined) spec.process.apparmorProfile = apparmorProfile;
  if (rootfsPropagation !== 'rprivate') spec.linux.rootfsPropagation = rootfsPropagation;
  if (seccomp !== undefined) spec.linux.seccomp = seccomp;
  // runc 1.1 wants the mappings even to join a user namespace by path (it maps the
  // container's root for the files it creates).
  if (pod.userns) {
    spec.linux.uidMappings = ociIdMappings(pod.userns.uids);
    spec.linux.gidMappings = ociIdMappings(pod.userns.gids);
  }
  const cdiNames = requestedCdiDevices(config);
  if (cdiNames.length > 0) {
    const cdi = inputs.cdi;
    if (cdi === undefined || cdiNames.some((n) => !cdi.devices.includes(n))) throw new InvalidArgumentError(`CDI devices ${cdiNames.join(', ')} were not resolved`);
    applyCdiEdits(spec, cdi);
  }
  return { spec, user, idmapBinds: staged };
}
