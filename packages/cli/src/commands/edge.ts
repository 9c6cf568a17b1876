import { readEdgeBusUsersFile } from '@edgetwin/eventbus/edge-bus-users';
import { BUILT_IN_PROTOCOLS } from '@edgetwin/mappers/drivers/registry';
import { type Command, Option } from 'commander';
import { Lifecycle } from '../compose/lifecycle.js';
import { cliLogger } from '../compose/logger.js';
import {
  parseBytes,
  parseList,
  parseNodeName,
  parsePort,
  parseSeconds,
  parseUrlList,
  readSecrets,
} from '../compose/options.js';
import { DEFAULTS } from '../compose/ports.js';
import { addRestOptions, restOptionsFrom } from '../compose/rest-options.js';
import { addTwinLimitOptions, twinLimitsFrom } from '../compose/twin-limit-options.js';
import { deferOptimizer, limitHeapGrowth } from '../compose/heap-growth.js';

export const BUILTIN_MAPPERS: string[] = [...BUILT_IN_PROTOCOLS];

export function registerEdge(program: Command): void {
  addRestOptions(addTwinLimitOptions(program.command('edge')))
    .description('run an edge node: MQTT broker, DeviceTwin (SQLite), cloud link and in-process mappers')
    .requiredOption('--node <name>', 'this node (Device spec.nodeName)', parseNodeName)
    .option(
      '--cloud <url>',
      'the cloud-link broker, e.g. mqtt://cloud:1884, or the members of a broker cluster, URL,URL,... (absent: run without a cloud)',
      parseUrlList,
    )
    .option(
      '--heartbeat <seconds>',
      'how often the node tells the cloud it is there (the controller marks it offline after --presence-timeout without)',
      parseSeconds,
    )
    .option(
      '--token-file <file>',
      'the one-time join token from `edgetwin node add` (or EDGETWIN_JOIN_TOKEN); needed on the first start only',
    )
    .option(
      '--cloud-password-file <file>',
      'a password provisioned by hand on an external cloud-link broker (or EDGETWIN_CLOUD_PASSWORD)',
    )
    .option('--cloud-ca <file>', 'CA certificate (PEM) of an mqtts:// cloud signed by a CA (a pinned one needs none)')
    .option('--cloud-cert <file>', "this node's client certificate (PEM), for a cloud started with --client-ca")
    .option('--cloud-key <file>', 'its private key (PEM, mode 0600)')
    .addOption(new Option('--cloud-password <password>').hideHelp())
    .addOption(new Option('--token <token>').hideHelp())
    .option('--broker <url>', 'use an external edge broker (e.g. mqtt://127.0.0.1:1883 of Mosquitto)')
    .option(
      '--broker-password-file <file>',
      `the password of user edgetwin-service on the external --broker, for the twin and mappers (or EDGETWIN_BROKER_PASSWORD)`,
    )
    .option('--host <addr>', 'address of the embedded edge broker', DEFAULTS.host)
    .option('--port <port>', 'port of the embedded edge broker', parsePort, DEFAULTS.edgeMqttPort)
    .option(
      '--lan-host <addr>',
      'open the edge bus to the LAN on this address: a second listener, TLS, logins only (needs --auth)',
    )
    .option('--lan-port <port>', 'port of the LAN listener', parsePort, 8883)
    .option('--auth <file>', 'app users of the edge bus (YAML: name, password hash, namespaces; docs/security.md)')
    .option('--tls-cert <file>', 'PEM certificate of the LAN listener (default: generated into the data dir)')
    .option('--tls-key <file>', 'PEM private key for --tls-cert')
    .option(
      '--insecure-allow-anonymous',
      'development only: let --host be beyond loopback with anonymous clients (anyone on the network drives the devices)',
    )
    .option('--max-packet-size <bytes>', 'largest MQTT packet a client of the embedded broker may send', parseBytes)
    .option('--data-dir <dir>', 'where the twin database and broker sessions live', DEFAULTS.dataDir)
    .option('--mappers <list>', `in-process mappers, comma-separated, or "none"`, parseList, BUILTIN_MAPPERS)
    .action(async (o) => {
      limitHeapGrowth();
      const optimizeFromNowOn = deferOptimizer();
      // secrets on the command line show in `ps` and shell history (issue 10 §5)
      if (o.cloudPassword !== undefined)
        program.error(
          '--cloud-password puts a secret on the command line (visible in ps); use --cloud-password-file FILE or EDGETWIN_CLOUD_PASSWORD',
          { exitCode: 2 },
        );
      if (o.token !== undefined)
        program.error(
          '--token puts a secret on the command line (visible in ps); use --token-file FILE or EDGETWIN_JOIN_TOKEN',
          { exitCode: 2 },
        );
      if (Boolean(o.cloudCert) !== Boolean(o.cloudKey))
        program.error('--cloud-cert and --cloud-key go together', { exitCode: 2 });
      const { joinToken, cloudPassword, cloudCa, brokerPassword, cloudCert, cloudKey } = readSecrets(
        {
          cloudCert: { file: o.cloudCert, what: 'client certificate', secret: false },
          cloudKey: { file: o.cloudKey, what: 'client key' },
          brokerPassword: { file: o.brokerPasswordFile, env: 'EDGETWIN_BROKER_PASSWORD', what: 'broker password' },
          joinToken: { file: o.tokenFile, env: 'EDGETWIN_JOIN_TOKEN', what: 'join token' },
          cloudPassword: { file: o.cloudPasswordFile, env: 'EDGETWIN_CLOUD_PASSWORD', what: 'cloud password' },
          cloudCa: { file: o.cloudCa, what: 'cloud CA', secret: false },
        },
        (m) => program.error(m, { exitCode: 2 }),
      );
      if (Boolean(o.tlsCert) !== Boolean(o.tlsKey))
        program.error('--tls-cert and --tls-key go together', { exitCode: 2 });
      if (o.tlsCert && !o.lanHost)
        program.error('--tls-cert/--tls-key are for the LAN listener: add --lan-host ADDR', { exitCode: 2 });
      if (o.broker && (o.lanHost || o.auth || o.insecureAllowAnonymous))
        program.error(
          '--lan-host, --auth and --insecure-allow-anonymous configure the embedded broker; an external --broker has its own users (docs/acl.md)',
          { exitCode: 2 },
        );
      let users: Awaited<ReturnType<typeof readEdgeBusUsersFile>> | undefined;
      if (o.auth) {
        try {
          users = readEdgeBusUsersFile(o.auth);
        } catch (e) {
          program.error((e as Error).message, { exitCode: 2 });
        }
      }
      const logger = cliLogger();
      const life = new Lifecycle(logger);
      const mappers = (o.mappers as string[]).filter((m) => m !== 'none');
      try {
        const { startEdge } = await import('../compose/start-edge.js');
        const edge = await startEdge(
          {
            node: o.node,
            dataDir: o.dataDir,
            ...(o.cloud ? { cloudUrl: o.cloud } : {}),
            ...(o.heartbeat !== undefined ? { heartbeatMs: o.heartbeat } : {}),
            ...(cloudPassword !== undefined ? { cloudPassword } : {}),
            ...(joinToken !== undefined ? { joinToken } : {}),
            ...(cloudCa !== undefined ? { cloudCa } : {}),
            ...(cloudCert !== undefined && cloudKey !== undefined
              ? { cloudClientCert: { cert: cloudCert, key: cloudKey } }
              : {}),
            brokerUrl: o.broker,
            ...(o.broker && brokerPassword !== undefined ? { brokerPassword } : {}),
            mqttHost: o.host,
            mqttPort: o.port,
            ...(o.lanHost
              ? {
                  lan: {
                    host: o.lanHost,
                    port: o.lanPort,
                    ...(o.tlsCert ? { tlsCertFile: o.tlsCert, tlsKeyFile: o.tlsKey } : {}),
                  },
                }
              : {}),
            ...(users ? { users } : {}),
            insecureAllowAnonymous: Boolean(o.insecureAllowAnonymous),
            maxPacketBytes: o.maxPacketSize,
            twinLimits: twinLimitsFrom(o),
            mappers,
            rest: restOptionsFrom(o),
            logger,
          },
          life,
        );
        process.stdout.write(
          `edgetwin edge ${o.node} is up\n  edge MQTT  ${edge.brokerUrl}  (KubeEdge apps and mappers connect here)\n` +
            (edge.lan
              ? `  edge LAN   ${edge.lan.url}  (TLS, logins from ${o.auth}; certificate ${edge.lan.certFile}, SHA-256 ${edge.lan.fingerprint})\n`
              : '') +
            `  twin db    ${edge.dbPath}\n  cloud      ${o.cloud?.join(',') ?? 'none (standalone)'}\n` +
            `  mappers    ${mappers.join(', ') || 'none in-process'}\n` +
            (edge.restUrl ? `  REST API   ${edge.restUrl}/api/v1\n` : ''),
        );
        optimizeFromNowOn();
      } catch (e) {
        await life.stopAll();
        throw e;
      }
      await life.untilSignal((line) => process.stdout.write(`${line}\n`));
    });
}
