// Where a sink's secret comes from (issue 17). KubeEdge reads one env var per kind (TOKEN for influxdb2,
// PASSWORD for redis and mysql alike), so one mapper cannot hold a redis and a mysql password at once.
// edgetwin adds one file per sink kind, named by an env var; the file wins over the shared env var.

import { readFileSync } from 'node:fs';
import type { SinkKind } from '@edgetwin/api';

/** Env var naming the secret file of each sink kind, and KubeEdge's shared env var. */
export const SECRET_SOURCES: Record<SinkKind | 'otel', { file: string; env?: string }> = {
  influxdb2: { file: 'EDGETWIN_INFLUXDB2_TOKEN_FILE', env: 'TOKEN' },
  redis: { file: 'EDGETWIN_REDIS_PASSWORD_FILE', env: 'PASSWORD' },
  mysql: { file: 'EDGETWIN_MYSQL_PASSWORD_FILE', env: 'PASSWORD' },
  otel: { file: 'EDGETWIN_OTEL_TOKEN_FILE' },
};

/** The secret for a sink kind: the kind's file if its env var names one, else KubeEdge's env var, else none. */
export function sinkSecret(kind: SinkKind | 'otel', env: NodeJS.ProcessEnv = process.env): string | undefined {
  const src = SECRET_SOURCES[kind];
  const file = env[src.file];
  if (file) {
    try {
      return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (e) {
      throw new Error(`${src.file}=${file}: cannot read the ${kind} secret: ${(e as Error).message}`);
    }
  }
  return src.env ? env[src.env] || undefined : undefined;
}
