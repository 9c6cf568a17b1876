// OTEL push (issue 17; dead code in KubeEdge's framework): readings go to `pushMethod.otel.endpointURL` as
// OTLP/HTTP metrics through OpenTelemetry's exporter. The metric is one gauge, `edgetwin.device.property`,
// no unit (a unit would be appended to the Prometheus name and differs per property), one data point per
// reading at the reading's own time, with data-point attributes `namespace`, `device`, `property` and `unit`
// (the model's), which Prometheus turns into labels without configuration. BOOLEAN readings are 0/1;
// non-numeric readings (STRING, BYTES) cannot be gauges: the pusher never hands them over (logged once).

import { ValueType } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationTemporality, DataPointType, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { gaugeValue, type SecretSource, SinkAuthError, type SinkWriter } from './batching-sink.js';

export const OTEL_METRIC = 'edgetwin.device.property';

const hr = (ms: number): [number, number] => [Math.floor(ms / 1000), (ms % 1000) * 1e6];

export function otelWriter(endpointURL: string, secret: SecretSource, timeoutMs: number): SinkWriter {
  let exporter: OTLPMetricExporter | undefined;
  const resource = resourceFromAttributes({ 'service.name': 'edgetwin-mapper' });
  return {
    async connect() {
      const token = secret();
      exporter = new OTLPMetricExporter({
        url: endpointURL,
        timeoutMillis: timeoutMs,
        ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}),
      });
    },
    async write(points) {
      const e = exporter;
      if (!e) throw new Error('OTLP exporter closed');
      const dataPoints = [];
      for (const p of points) {
        const value = gaugeValue(p);
        if (value === undefined) continue;
        dataPoints.push({
          startTime: hr(p.timestamp),
          endTime: hr(p.timestamp),
          attributes: {
            namespace: p.namespace,
            device: p.name,
            property: p.property,
            ...(typeof p.extra === 'string' && p.extra ? { unit: p.extra } : {}),
          },
          value,
        });
      }
      if (dataPoints.length === 0) return;
      const metrics: ResourceMetrics = {
        resource,
        scopeMetrics: [
          {
            scope: { name: '@edgetwin/mappers' },
            metrics: [
              {
                descriptor: {
                  name: OTEL_METRIC,
                  description: 'Latest readings of device properties (edgetwin mapper)',
                  unit: '',
                  valueType: ValueType.DOUBLE,
                },
                aggregationTemporality: AggregationTemporality.CUMULATIVE,
                dataPointType: DataPointType.GAUGE,
                dataPoints,
              },
            ],
          },
        ],
      };
      await new Promise<void>((resolve, reject) =>
        e.export(metrics, (r) => {
          if (r.code === ExportResultCode.SUCCESS) return resolve();
          const msg = r.error?.message ?? 'OTLP export failed';
          reject(/\b(401|403)\b|unauthori[sz]ed|forbidden/i.test(msg) ? new SinkAuthError(msg) : new Error(msg));
        }),
      );
    },
    async close() {
      const e = exporter;
      exporter = undefined;
      await e?.shutdown().catch(() => undefined);
    },
  };
}
