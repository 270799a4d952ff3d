/**
 * Which handler serves which CRI RPC. Every RPC of the contract is registered; one with
 * no entry here answers UNIMPLEMENTED naming itself (never a fake success). Adding an
 * RPC means adding its handler file and one line here.
 */
import type { UnaryHandler, StreamHandler } from './adapt.ts';
import type { Services } from './services.ts';
import { versionHandler, statusHandler, runtimeConfigHandler, updateRuntimeConfigHandler } from './runtime-status.ts';
import { runPodSandboxHandler } from './sandbox-run.ts';
import { stopPodSandboxHandler } from './sandbox-stop.ts';
import { removePodSandboxHandler } from './sandbox-remove.ts';
import { podSandboxStatusHandler } from './sandbox-status.ts';
import { updatePodSandboxResourcesHandler } from './sandbox-update.ts';
import { listPodSandboxHandler, streamPodSandboxesHandler } from './sandbox-list.ts';
import { pullImageHandler } from './image-pull.ts';
import { imageStatusHandler } from './image-status.ts';
import { listImagesHandler, streamImagesHandler } from './image-list.ts';
import { removeImageHandler } from './image-remove.ts';
import { imageFsInfoHandler } from './image-fs-info.ts';
import { createContainerHandler } from './container-create.ts';
import { startContainerHandler, stopContainerHandler, removeContainerHandler } from './container-lifecycle.ts';
import { containerStatusHandler } from './container-status.ts';
import { listContainersHandler, streamContainersHandler } from './container-list.ts';
import { execSyncHandler } from './container-exec-sync.ts';
import { updateContainerResourcesHandler, reopenContainerLogHandler } from './container-update.ts';
import { execHandler, attachHandler, portForwardHandler } from './container-stream.ts';
import { containerStatsHandler, listContainerStatsHandler, streamContainerStatsHandler } from './container-stats.ts';
import { podSandboxStatsHandler, listPodSandboxStatsHandler, streamPodSandboxStatsHandler } from './sandbox-stats.ts';
import { listMetricDescriptorsHandler, listPodSandboxMetricsHandler, streamPodSandboxMetricsHandler } from './metrics-rpcs.ts';
import { getContainerEventsHandler } from './container-events.ts';
import { checkpointContainerHandler } from './container-checkpoint.ts';
import { checkpointPodHandler, restorePodHandler } from './pod-checkpoint.ts';

export type RpcEntry =
  /** `encodeOnce`: the handler hands the same answer object out again (list-answer-cache.ts). */
  | { kind: 'unary'; fn: UnaryHandler<never, unknown>; encodeOnce?: boolean }
  | { kind: 'stream'; fn: StreamHandler<never, unknown> };

const u = <Req, Res>(fn: UnaryHandler<Req, Res>): RpcEntry => ({ kind: 'unary', fn: fn });
const cachedList = <Req, Res>(fn: UnaryHandler<Req, Res>): RpcEntry => ({ kind: 'unary', fn: fn, encodeOnce: true });
// Streaming handlers get registered with `s(...)` as their RPCs are built.
const s = <Req, Res>(fn: StreamHandler<Req, Res>): RpcEntry => ({ kind: 'stream', fn: fn as StreamHandler<never, unknown> });

/** The handlers built so far, keyed by RPC method name as in the proto. */
export function rpcTable(svc: Services): Record<string, RpcEntry> {
  return {
    Version: u(versionHandler(svc.runtimeInfo)),
    Status: u(statusHandler(svc.runtimeInfo)),
    RuntimeConfig: u(runtimeConfigHandler(svc.runtimeInfo)),
    UpdateRuntimeConfig: u(updateRuntimeConfigHandler(svc.runtimeInfo)),
    RunPodSandbox: u(runPodSandboxHandler(svc.sandboxes)),
    StopPodSandbox: u(stopPodSandboxHandler(svc.sandboxes)),
    RemovePodSandbox: u(removePodSandboxHandler(svc.sandboxes)),
    PodSandboxStatus: u(podSandboxStatusHandler(svc.sandboxes, () => BigInt(Date.now()) * 1_000_000n)),
    ListPodSandbox: cachedList(listPodSandboxHandler(svc.sandboxes)),
    UpdatePodSandboxResources: u(updatePodSandboxResourcesHandler(svc.sandboxes)),
    StreamPodSandboxes: s(streamPodSandboxesHandler(svc.sandboxes)),
    PullImage: u(pullImageHandler(svc.images, svc.runtimeInfo)),
    ImageStatus: u(imageStatusHandler(svc.images)),
    ListImages: u(listImagesHandler(svc.images)),
    StreamImages: s(streamImagesHandler(svc.images)),
    RemoveImage: u(removeImageHandler(svc.images)),
    ImageFsInfo: u(imageFsInfoHandler(svc.images)),
    CreateContainer: u(createContainerHandler(svc.containers)),
    StartContainer: u(startContainerHandler(svc.containers)),
    StopContainer: u(stopContainerHandler(svc.containers)),
    RemoveContainer: u(removeContainerHandler(svc.containers)),
    ContainerStatus: u(containerStatusHandler(svc.containers)),
    ListContainers: cachedList(listContainersHandler(svc.containers)),
    StreamContainers: s(streamContainersHandler(svc.containers)),
    ExecSync: u(execSyncHandler(svc.containers)),
    UpdateContainerResources: u(updateContainerResourcesHandler(svc.containers)),
    ReopenContainerLog: u(reopenContainerLogHandler(svc.containers)),
    Exec: u(execHandler(svc.streaming)),
    Attach: u(attachHandler(svc.streaming)),
    PortForward: u(portForwardHandler(svc.streaming)),
    ContainerStats: u(containerStatsHandler(svc.stats)),
    ListContainerStats: u(listContainerStatsHandler(svc.stats)),
    StreamContainerStats: s(streamContainerStatsHandler(svc.stats)),
    PodSandboxStats: u(podSandboxStatsHandler(svc.stats)),
    ListPodSandboxStats: u(listPodSandboxStatsHandler(svc.stats)),
    StreamPodSandboxStats: s(streamPodSandboxStatsHandler(svc.stats)),
    ListMetricDescriptors: u(listMetricDescriptorsHandler()),
    ListPodSandboxMetrics: u(listPodSandboxMetricsHandler(svc.stats)),
    StreamPodSandboxMetrics: s(streamPodSandboxMetricsHandler(svc.stats)),
    GetContainerEvents: s(getContainerEventsHandler(svc.containerEvents)),
    CheckpointContainer: u(checkpointContainerHandler(svc.containers)),
    CheckpointPod: u(checkpointPodHandler(svc.podCheckpoints)),
    RestorePod: u(restorePodHandler(svc.podCheckpoints)),
  };
}
