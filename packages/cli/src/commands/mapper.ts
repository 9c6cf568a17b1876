// `edgetwin mapper <protocol>`: one protocol's mapper as its own process, speaking only MQTT to the edge.
// Stopping (issue 9 §5): a SIGTERM/SIGINT at any moment, even during start-up, stops it with exit 0 within
// --stop-timeout (docs/mappers.md, "Stopping").
import { existsSync } from 'node:fs';
import { readSecretFile } from '@edgetwin/api/secret-file';
import { EDGE_SERVICE_USER, edgeServiceSecretFile } from '@edgetwin/eventbus/edge-bus-acl';
import { BUILT_IN_PROTOCOLS } from '@edgetwin/mappers/drivers/registry';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { cliLogger } from '../compose/logger.js';
import { parseNodeName, parsePort } from '../compose/options.js';
import { DEFAULTS } from '../compose/ports.js';
import { addRestOptions, restOptionsFrom } from '../compose/rest-options.js';

/** Default of --stop-timeout; the framework's DEFAULT_STOP_TIMEOUT_MS, which is not loaded to parse arguments. */
const STOP_TIMEOUT_MS = 3000;
/** Past the stop timeout, how long the process waits before it exits anyway (exit 1). */
const EXIT_MARGIN_MS = 2000;

export function registerMapper(program: Command): void {
  addRestOptions(program.command('mapper'))
    .description(`run the mapper of one protocol (${BUILT_IN_PROTOCOLS.join(', ')}) against an edge node's broker`)
    .argument('<protocol>', 'protocol name as in Device spec.protocol.protocolName')
    .requiredOption('--node <name>', 'edge node whose devices this mapper serves', parseNodeName)
    .option('--broker <url>', "the edge node's MQTT broker", 'mqtt://127.0.0.1:1883')
    .option(
      '--data-dir <dir>',
      "the edge's data dir: the mapper logs in as the edge bus service user with the password kept there",
      DEFAULTS.dataDir,
    )
    .option('--username <user>', 'MQTT username (instead of the service user of --data-dir)')
    .option('--password-file <file>', 'MQTT password of --username (or set EDGETWIN_MQTT_PASSWORD)')
    .addOption(new Option('--password <password>').hideHelp())
    .option('--metrics-port <port>', 'serve Prometheus metrics on http://127.0.0.1:<port>/metrics', parsePort)
    .option('--metrics-host <addr>', 'address for the metrics server', '127.0.0.1')
    .option(
      '--stop-timeout <ms>',
      'longest a stop may take before the offline messages are given up',
      parseMs,
      STOP_TIMEOUT_MS,
    )
    .action(async (protocol: string, o) => {
      // secrets on the command line show in `ps` and shell history (issue 10 §5)
      if (o.password !== undefined)
        program.error(
          '--password puts a secret on the command line (visible in ps); use --password-file FILE or EDGETWIN_MQTT_PASSWORD',
          { exitCode: 2 },
        );
      const credentials = mapperCredentials(o);
      const logger = cliLogger();
      // Before anything else: a signal that arrives while the framework loads or connects must stop the
      // mapper, not kill it by the default action (the flaky mapper-process test, issue 9 §5).
      const stopping = onStopSignal(logger, o.stopTimeout);
      // Loaded on use: the framework and drivers are not needed to parse arguments or print help.
      const { startMapper, MapperStartAborted } = await import('@edgetwin/mappers');
      let mapper: Awaited<ReturnType<typeof startMapper>>;
      try {
        mapper = await startMapper({
          protocol,
          brokerUrl: o.broker,
          node: o.node,
          logger,
          metricsPort: o.metricsPort,
          metricsHost: o.metricsHost,
          ...credentials,
          stopTimeoutMs: o.stopTimeout,
          signal: stopping.signal,
          rest: restOptionsFrom(o),
        });
      } catch (e) {
        if (e instanceof MapperStartAborted) process.exit(0);
        throw e;
      }
      process.stdout.write(
        `edgetwin ${mapper.runtime.protocol} mapper for node ${o.node} on ${o.broker}` +
          (mapper.metricsUrl ? `\n  metrics ${mapper.metricsUrl}` : '') +
          (mapper.restUrl ? `\n  REST API ${mapper.restUrl}/api/v1` : '') +
          '\n',
      );
      stopping.serve(() => mapper.stop());
    });
}

/**
 * Who the mapper is on the edge bus (issue 10 step 4): only the edge's service user may use the mapper-facing
 * topics, so a mapper on the same machine as `edgetwin edge` logs in as that user with the password the edge
 * keeps in its data dir. An explicit --username (an external broker's user) takes its password from a file
 * or EDGETWIN_MQTT_PASSWORD; with neither, the mapper connects anonymously (an open external broker).
 */
function mapperCredentials(o: { username?: string; passwordFile?: string; dataDir: string; node: string }): {
  username?: string;
  password?: string;
} {
  if (o.username !== undefined || o.passwordFile !== undefined) {
    const password = o.passwordFile
      ? readSecretFile(o.passwordFile, 'MQTT password')
      : process.env.EDGETWIN_MQTT_PASSWORD;
    return { username: o.username, password };
  }
  const file = edgeServiceSecretFile(o.dataDir, o.node);
  if (existsSync(file))
    return { username: EDGE_SERVICE_USER, password: readSecretFile(file, 'edge bus service password') };
  return { password: process.env.EDGETWIN_MQTT_PASSWORD };
}

function parseMs(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`"${v}" is not a whole number of milliseconds`);
  return n;
}

/**
 * Stops on SIGINT/SIGTERM, then exits 0; a second signal exits at once (130). The handlers stay installed
 * (not `once`) so a repeated signal during the stop never falls through to the default action. If the
 * stop overruns its bound by EXIT_MARGIN_MS the process exits 1 saying so: a supervisor's stop never hangs.
 */
function onStopSignal(
  logger: { info(o: object, m: string): void },
  stopTimeoutMs: number,
): { signal: AbortSignal; serve(stop: () => Promise<void>): void } {
  const abort = new AbortController();
  let stop: (() => Promise<void>) | undefined;
  const run = () => {
    stop!().then(
      () => process.exit(0),
      (e: Error) => {
        process.stderr.write(`edgetwin mapper: stop failed: ${e.message}\n`);
        process.exit(1);
      },
    );
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (abort.signal.aborted) process.exit(130);
    logger.info({ signal }, 'stopping');
    abort.abort();
    setTimeout(() => {
      process.stderr.write(
        `edgetwin mapper: stop did not finish within ${stopTimeoutMs + EXIT_MARGIN_MS} ms; exiting\n`,
      );
      process.exit(1);
    }, stopTimeoutMs + EXIT_MARGIN_MS).unref();
    if (stop) run();
    // else still starting: startMapper sees the abort, stops what it started and the action exits 0
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: abort.signal,
    serve(s) {
      stop = s;
      if (abort.signal.aborted) run();
    },
  };
}
