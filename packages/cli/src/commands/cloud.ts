import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { Lifecycle } from '../compose/lifecycle.js';
import { cliLogger } from '../compose/logger.js';
import { parseBytes, parsePort } from '../compose/options.js';
import { DEFAULTS } from '../compose/ports.js';

export function registerCloud(program: Command): void {
  program
    .command('cloud')
    .description('run the cloud half: device controller (embedded store or Kubernetes) and the cloud-link broker')
    .option('--source <source>', 'embedded | kubernetes', 'embedded')
    .option(
      '--kubeconfig <file>',
      'kubeconfig for --source kubernetes (default: in-cluster, $KUBECONFIG, ~/.kube/config)',
    )
    .option('--data-dir <dir>', 'where the store and broker sessions live', DEFAULTS.dataDir)
    .option('--host <addr>', 'address to listen on (0.0.0.0 to accept edge nodes from the network)', DEFAULTS.host)
    .option('--http-port <port>', 'controller HTTP API port', parsePort, DEFAULTS.controllerHttpPort)
    .option('--mqtt-port <port>', 'cloud-link broker port', parsePort, DEFAULTS.cloudMqttPort)
    .option('--broker <url>', 'use an external MQTT broker for the cloud link instead of the embedded one')
    .option('--max-packet-size <bytes>', 'largest MQTT packet an edge node may send (e.g. 768KiB)', parseBytes)
    .option('--node-credentials <file>', 'JSON file {"<node>": "<password>"}: only these nodes may connect')
    .action(async (o) => {
      if (o.source !== 'embedded' && o.source !== 'kubernetes') {
        program.error(`--source must be embedded or kubernetes, not "${o.source}"`, { exitCode: 2 });
      }
      const logger = cliLogger();
      const life = new Lifecycle(logger);
      let nodeCredentials: Record<string, string> | undefined;
      if (o.nodeCredentials) {
        try {
          nodeCredentials = JSON.parse(readFileSync(o.nodeCredentials, 'utf8'));
        } catch (e) {
          program.error(`--node-credentials ${o.nodeCredentials}: ${(e as Error).message}`, { exitCode: 2 });
        }
      }
      try {
        const { startCloud } = await import('../compose/start-cloud.js');
        const cloud = await startCloud(
          {
            source: o.source,
            kubeconfig: o.kubeconfig,
            dataDir: o.dataDir,
            httpHost: o.host,
            httpPort: o.httpPort,
            mqttHost: o.host,
            mqttPort: o.mqttPort,
            brokerUrl: o.broker,
            nodeCredentials,
            maxPacketBytes: o.maxPacketSize,
            logger,
          },
          life,
        );
        process.stdout.write(
          `edgetwin cloud is up\n  controller API  ${cloud.controllerUrl}\n  cloud link MQTT ${cloud.linkUrl}\n` +
            `Edge nodes join with: npx edgetwin edge --node <name> --cloud ${cloud.linkUrl}\n`,
        );
      } catch (e) {
        await life.stopAll();
        throw e;
      }
      await life.untilSignal();
    });
}
