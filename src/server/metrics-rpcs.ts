/**
 * ListMetricDescriptors, ListPodSandboxMetrics, StreamPodSandboxMetrics: cAdvisor-named
 * metrics (container_cpu_usage_seconds_total, container_memory_working_set_bytes, …)
 * from the same samples as the stats RPCs, for the kubelet's CRI-sourced /metrics/cadvisor.
 */
import type { UnaryHandler, StreamHandler } from './adapt.ts';
import type { RecordStats, PodStatsEntry } from '../stats/record-stats.ts';
import { METRIC_DESCRIPTORS, containerMetrics, podMetrics, type MetricPoint } from '../stats/cadvisor-metrics.ts';
import { MetricType } from '../generated/cri/runtime/v1/MetricType.ts';
import type { Metric } from '../generated/cri/runtime/v1/Metric.ts';
import type { PodSandboxMetrics } from '../generated/cri/runtime/v1/PodSandboxMetrics.ts';
import type { ListMetricDescriptorsRequest__Output } from '../generated/cri/runtime/v1/ListMetricDescriptorsRequest.ts';
import type { ListMetricDescriptorsResponse } from '../generated/cri/runtime/v1/ListMetricDescriptorsResponse.ts';
import type { ListPodSandboxMetricsRequest__Output } from '../generated/cri/runtime/v1/ListPodSandboxMetricsRequest.ts';
import type { ListPodSandboxMetricsResponse } from '../generated/cri/runtime/v1/ListPodSandboxMetricsResponse.ts';
import type { StreamPodSandboxMetricsRequest__Output } from '../generated/cri/runtime/v1/StreamPodSandboxMetricsRequest.ts';
import type { StreamPodSandboxMetricsResponse } from '../generated/cri/runtime/v1/StreamPodSandboxMetricsResponse.ts';

const STREAM_BATCH = 100;

function metric(p: MetricPoint): Metric {
  return {
    name: p.name, timestamp: p.atNs.toString(), metric_type: p.kind === 'counter' ? MetricType.COUNTER : MetricType.GAUGE,
    label_values: p.labelValues, value: { value: String(Math.max(0, Math.round(p.value))) },
  };
}

function podMetricsMessage({ record, usage, containers }: PodStatsEntry): PodSandboxMetrics {
  const md = record.metadata.config.metadata;
  const pod = { namespace: md?.namespace ?? '', pod: md?.name ?? '' };
  return {
    pod_sandbox_id: record.id,
    metrics: podMetrics({ ...pod, container: 'POD', id: record.id, name: record.id, image: '' }, usage).map(metric),
    // Only running containers have series, as with cAdvisor (whose series go with the cgroup):
    // an exited one's last sample would stand beside its restarted successor's under the
    // same container label, e.g. the RSS of a process caught as it started.
    container_metrics: containers.flatMap((c, i) => c.status.phase !== 'running' ? [] : [{
      container_id: c.id,
      metrics: containerMetrics(
        { ...pod, container: c.metadata.config.metadata?.name ?? '', id: c.id, name: c.id, image: c.metadata.imageRequested },
        usage.containers[i]!, BigInt(c.metadata.createdAt),
      ).map(metric),
    }]),
  };
}

export function listMetricDescriptorsHandler(): UnaryHandler<ListMetricDescriptorsRequest__Output, ListMetricDescriptorsResponse> {
  return async () => ({ descriptors: METRIC_DESCRIPTORS.map((d) => ({ name: d.name, help: d.help, label_keys: d.labelKeys })) });
}

export function listPodSandboxMetricsHandler(stats: RecordStats): UnaryHandler<ListPodSandboxMetricsRequest__Output, ListPodSandboxMetricsResponse> {
  return async () => ({ pod_metrics: (await stats.pods(null, 'full')).map(podMetricsMessage) });
}

export function streamPodSandboxMetricsHandler(stats: RecordStats): StreamHandler<StreamPodSandboxMetricsRequest__Output, StreamPodSandboxMetricsResponse> {
  return async function* () {
    const items = (await stats.pods(null, 'full')).map(podMetricsMessage);
    for (let i = 0; i < items.length; i += STREAM_BATCH) yield { pod_sandbox_metrics: items.slice(i, i + STREAM_BATCH) };
  };
}
