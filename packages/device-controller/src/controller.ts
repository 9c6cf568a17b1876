// Starts the cloud device controller: a source (embedded store or Kubernetes), dispatch of per-node
// desired state, status coalescing, and the HTTP API. The cloud link plugs into `desired` and `status`.

import { newSecret } from '@edgetwin/api/secret-file';
import type { ProtocolValidators } from '@edgetwin/api';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import type { NodeDesiredState, StatusSink } from './contracts.js';
import { Dispatcher } from './dispatch/dispatcher.js';
import type { NodeJoinOptions } from './http/node-routes.js';
import { buildHttpApi } from './http/server.js';
import type { HistoryOptions } from './live/history.js';
import { LiveState } from './live/live-state.js';
import { ControllerMetrics } from './metrics.js';
import type { Source } from './source.js';
import { ManifestFolder } from './sources/embedded/manifest-folder.js';
import { EmbeddedStore } from './sources/embedded/store.js';
import type { KubeEventRecorder } from './sources/kubernetes/event-recorder.js';
import type { KubernetesSourceOptions } from './sources/kubernetes/source.js';
import { StatusCoalescer } from './status/coalescer.js';

export interface ControllerOptions {
  source: 'embedded' | 'kubernetes';
  /** embedded: SQLite file (default .edgetwin/controller.db) */
  dbPath?: string;
  /** embedded: a folder of manifests kept applied (added, changed, removed files are followed) */
  manifestsDir?: string;
  /** kubernetes: kubeconfig file; absent = in-cluster config, else $KUBECONFIG / ~/.kube/config */
  kubeconfig?: string;
  /** kubernetes: also merge-patch Device.status for clients of KubeEdge <= 1.22 (default true) */
  legacyDeviceStatus?: boolean;
  /** kubernetes: retry, deadline and watch-idle settings of the source (KubernetesSourceOptions) */
  kubernetes?: Pick<KubernetesSourceOptions, 'retryMs' | 'startTimeoutMs' | 'requestTimeoutMs' | 'watchIdleTimeoutMs'>;
  httpHost?: string;
  /** the bearer token of the HTTP API; absent = a random one for this run (see `apiToken` of the result) */
  apiToken?: string;
  /** where the token is kept, named in 401 answers (e.g. the file path) */
  apiTokenHint?: string;
  /** node identities for `edgetwin node add/remove` (the cloud link's registry) */
  nodeJoin?: NodeJoinOptions;
  /** insecure modes in force, shown by /healthz */
  insecure?: string[];
  /** names besides httpHost, localhost and this host's name that clients put in the Host header */
  apiNames?: string[];
  /** 0 = ephemeral */
  httpPort?: number;
  logger?: Logger;
  /** after its burst, a device's status is written at most once per this many ms (default 1000) */
  statusIntervalMs?: number;
  /** writes a quiet device gets at once before the interval applies (default 4) */
  statusBurst?: number;
  /** global cap on status writes per second (default 100) */
  maxWritesPerSecond?: number;
  /** the reported-value history: retention and points per property (defaults: 1 h, 3600, 2000 series) */
  history?: HistoryOptions;
  /** the built web console to serve under /console/ (the CLI passes packages/console/dist) */
  consoleDir?: string;
  /**
   * each protocol driver's config check, run on apply and on the manifest folder; the CLI passes the
   * built-in drivers' (the controller imports no mapper)
   */
  protocols?: ProtocolValidators;
}

export interface RunningController {
  desired: NodeDesiredState;
  status: StatusSink;
  /** http://host:port of the HTTP API */
  url: string;
  /** the bearer token the HTTP API requires */
  apiToken: string;
  /** the embedded store, or undefined with the Kubernetes source */
  store: EmbeddedStore | undefined;
  source: Source;
  metrics: ControllerMetrics;
  /** history, events and the feed of changes */
  live: LiveState;
  http: FastifyInstance;
  stop(): Promise<void>;
}

/**
 * Settings a deployment can give without a command-line flag for each (e.g. under `edgetwin cloud`):
 * EDGETWIN_STATUS_INTERVAL_MS, EDGETWIN_STATUS_BURST, EDGETWIN_STATUS_MAX_WRITES_PER_SECOND, EDGETWIN_MANIFESTS_DIR.
 * Options passed in code win.
 */
export function controllerOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<ControllerOptions> {
  const out: Partial<ControllerOptions> = {};
  const num = (name: string, min: number): number | undefined => {
    const raw = env[name];
    if (raw === undefined || raw === '') return undefined;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min) throw new Error(`${name}=${raw}: expected a number >= ${min}`);
    return n;
  };
  const interval = num('EDGETWIN_STATUS_INTERVAL_MS', 0);
  const burst = num('EDGETWIN_STATUS_BURST', 1);
  const cap = num('EDGETWIN_STATUS_MAX_WRITES_PER_SECOND', 1);
  if (interval !== undefined) out.statusIntervalMs = interval;
  if (burst !== undefined) out.statusBurst = burst;
  if (cap !== undefined) out.maxWritesPerSecond = cap;
  if (env.EDGETWIN_MANIFESTS_DIR) out.manifestsDir = env.EDGETWIN_MANIFESTS_DIR;
  return out;
}

export async function startController(given: ControllerOptions): Promise<RunningController> {
  const opts: ControllerOptions = { ...controllerOptionsFromEnv(), ...stripUndefined(given) };
  const logger = (opts.logger ?? pino({ level: 'silent' })).child({ part: 'controller' });
  const metrics = new ControllerMetrics({ defaultMetrics: true });
  let store: EmbeddedStore | undefined;
  let source: Source;
  // with Kubernetes, the events `edgetwin describe` shows are Kubernetes Events too (`kubectl describe device`)
  let kubeEvents: KubeEventRecorder | undefined;
  if (opts.source === 'embedded') {
    store = new EmbeddedStore({ path: opts.dbPath ?? '.edgetwin/controller.db', logger });
    source = store;
  } else if (opts.source === 'kubernetes') {
    const k8sOpts: KubernetesSourceOptions = { ...opts.kubernetes, logger };
    if (opts.kubeconfig !== undefined) k8sOpts.kubeconfigPath = opts.kubeconfig;
    if (opts.legacyDeviceStatus !== undefined) k8sOpts.legacyDeviceStatus = opts.legacyDeviceStatus;
    // loaded only with this source: @kubernetes/client-node and its HTTP stack are ~0.1 s of every embedded
    // `cloud`/`up` start otherwise (issue 15, target 4)
    const { KubernetesSource } = await import('./sources/kubernetes/source.js');
    const k8s = new KubernetesSource(k8sOpts);
    source = k8s;
    kubeEvents = k8s.eventRecorder({ logger, counter: metrics.kubeEvents });
  } else {
    throw new Error(`unknown controller source "${String(opts.source)}" (expected embedded or kubernetes)`);
  }

  const dispatcher = new Dispatcher(source, {
    logger,
    onEmit: (c) => metrics.dispatched.inc({ kind: c.kind, op: c.object ? 'upsert' : 'remove' }),
  });
  const live = new LiveState(source, { ...(opts.history ? { history: opts.history } : {}), metrics });
  if (kubeEvents) live.events.onEvent((e) => kubeEvents.record(e));
  const statusOpts: ConstructorParameters<typeof StatusCoalescer>[1] = { logger, metrics, observer: live };
  if (opts.statusIntervalMs !== undefined) statusOpts.statusIntervalMs = opts.statusIntervalMs;
  if (opts.statusBurst !== undefined) statusOpts.statusBurst = opts.statusBurst;
  if (opts.maxWritesPerSecond !== undefined) statusOpts.maxWritesPerSecond = opts.maxWritesPerSecond;
  const status = new StatusCoalescer(source, statusOpts);
  const apiToken = opts.apiToken ?? newSecret();
  const http = buildHttpApi({
    source,
    store,
    dispatcher,
    status,
    metrics,
    logger,
    protocols: opts.protocols ?? {},
    live,
    ...(opts.consoleDir ? { consoleDir: opts.consoleDir } : {}),
    ...(opts.nodeJoin ? { nodeJoin: opts.nodeJoin } : {}),
    ...(opts.insecure ? { insecure: opts.insecure } : {}),
    auth: {
      token: apiToken,
      listenHost: opts.httpHost ?? '127.0.0.1',
      ...(opts.apiNames ? { names: opts.apiNames } : {}),
      ...(opts.apiTokenHint ? { tokenHint: opts.apiTokenHint } : {}),
    },
  });
  let folder: ManifestFolder | undefined;
  if (opts.manifestsDir !== undefined) {
    if (!store)
      throw new Error('manifestsDir needs the embedded source (with Kubernetes, apply manifests with kubectl)');
    folder = new ManifestFolder({ dir: opts.manifestsDir, store, logger, protocols: opts.protocols ?? {} });
  }
  try {
    dispatcher.start();
    await source.start();
    dispatcher.sync();
    folder?.start();
    await http.listen({ host: opts.httpHost ?? '127.0.0.1', port: opts.httpPort ?? 8080 });
  } catch (e) {
    folder?.stop();
    dispatcher.stop();
    status.stop();
    await http.close().catch(() => {});
    await source.stop();
    throw e;
  }
  const addr = http.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : (opts.httpPort ?? 8080);
  const host = opts.httpHost ?? '127.0.0.1';
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  logger.info({ url, source: source.name }, 'controller started');

  let stopping: Promise<void> | undefined;
  return {
    desired: dispatcher,
    status,
    url,
    apiToken,
    store,
    source,
    metrics,
    live,
    http,
    stop: () => {
      stopping ??= (async () => {
        folder?.stop();
        await http.close();
        status.stop();
        live.stop();
        kubeEvents?.stop();
        dispatcher.stop();
        await source.stop();
        logger.info('controller stopped');
      })();
      return stopping;
    },
  };
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
