// `edgetwin mapper <protocol>`: one protocol's mapper as its own process, speaking only MQTT to the edge.
import { BUILT_IN_PROTOCOLS } from '@edgetwin/mappers/drivers/registry';
import type { Command } from 'commander';
import { cliLogger } from '../compose/logger.js';
import { parseNodeName, parsePort } from '../compose/options.js';

export function registerMapper(program: Command): void {
  program
    .command('mapper')
    .description(`run the mapper of one protocol (${BUILT_IN_PROTOCOLS.join(', ')}) against an edge node's broker`)
    .argument('<protocol>', 'protocol name as in Device spec.protocol.protocolName')
    .requiredOption('--node <name>', 'edge node whose devices this mapper serves', parseNodeName)
    .option('--broker <url>', "the edge node's MQTT broker", 'mqtt://127.0.0.1:1883')
    .option('--username <user>', 'MQTT username')
    .option('--password <password>', 'MQTT password (or set EDGETWIN_MQTT_PASSWORD)')
    .option('--metrics-port <port>', 'serve Prometheus metrics on http://127.0.0.1:<port>/metrics', parsePort)
    .option('--metrics-host <addr>', 'address for the metrics server', '127.0.0.1')
    .action(async (protocol: string, o) => {
      const logger = cliLogger();
      // Loaded on use: the framework and drivers are not needed to parse arguments or print help.
      const { startMapper } = await import('@edgetwin/mappers');
      const mapper = await startMapper({
        protocol,
        brokerUrl: o.broker,
        node: o.node,
        logger,
        metricsPort: o.metricsPort,
        metricsHost: o.metricsHost,
        username: o.username,
        password: o.password ?? process.env.EDGETWIN_MQTT_PASSWORD,
      });
      process.stdout.write(
        `edgetwin ${mapper.runtime.protocol} mapper for node ${o.node} on ${o.broker}` +
          (mapper.metricsUrl ? `\n  metrics ${mapper.metricsUrl}` : '') +
          '\n',
      );
      await untilStopped(() => mapper.stop(), logger);
    });
}

/**
 * Stops on SIGINT/SIGTERM, then exits 0; a second signal exits at once. The handlers stay installed
 * (not `once`) so a repeated signal during the stop never falls through to the default, which would
 * kill the process before it says "offline".
 */
function untilStopped(stop: () => Promise<void>, logger: { info(o: object, m: string): void }): Promise<void> {
  return new Promise(() => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) process.exit(130);
      stopping = true;
      logger.info({ signal }, 'stopping');
      stop().then(
        () => process.exit(0),
        (e: Error) => {
          process.stderr.write(`edgetwin mapper: stop failed: ${e.message}\n`);
          process.exit(1);
        },
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
