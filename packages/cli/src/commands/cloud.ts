import { readFileSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { Lifecycle } from '../compose/lifecycle.js';
import { cliLogger } from '../compose/logger.js';
import { parseBytes, parseList, parsePort, parseSeconds, parseUrlList, readSecrets } from '../compose/options.js';
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
    .option('--api-host <addr>', 'address the controller HTTP API listens on', DEFAULTS.host)
    .option('--http-port <port>', 'controller HTTP API port', parsePort, DEFAULTS.controllerHttpPort)
    .option(
      '--api-name <names>',
      'further DNS names clients reach the API by, comma-separated (the Host header is checked against them)',
      parseList,
    )
    .option(
      '--api-token-file <file>',
      'the API bearer token (mode 0600); default <data-dir>/api-token, generated on first start',
    )
    .option(
      '--link-host <addr>',
      'address the cloud-link broker listens on (0.0.0.0 to accept edge nodes from the network)',
      DEFAULTS.host,
    )
    .option('--mqtt-port <port>', 'cloud-link broker port', parsePort, DEFAULTS.cloudMqttPort)
    .addOption(new Option('--host <addr>').hideHelp())
    .option(
      '--broker <url>',
      'use an external MQTT broker for the cloud link instead of the embedded one; a cluster: its members, URL,URL,...',
      parseUrlList,
    )
    .option(
      '--presence-timeout <seconds>',
      'mark a node offline when nothing was heard from it for this long (default 20; edges say they are there every 5)',
      parseSeconds,
    )
    .option('--broker-username <name>', "the controller's user on the external broker", 'edgetwin-controller')
    .option(
      '--broker-password-file <file>',
      "the controller's password on the external broker (or EDGETWIN_BROKER_PASSWORD)",
    )
    .option('--broker-ca <file>', 'CA certificate (PEM) of an mqtts:// external broker')
    .option(
      '--tls-cert <file>',
      'certificate (PEM) of the cloud-link broker; default: generated into <data-dir>/link-tls',
    )
    .option('--tls-key <file>', 'its private key (PEM, mode 0600)')
    .option(
      '--link-name <names>',
      'DNS names or addresses edges dial, comma-separated, for the generated certificate',
      parseList,
    )
    .option(
      '--client-ca <file>',
      "mTLS: CA certificate (PEM) of the nodes' client certificates; each node must present one whose CN is its name",
    )
    .option('--no-tls', 'DEVELOPMENT ONLY: plain MQTT on the cloud link (credentials cross the network unencrypted)')
    .option('--max-packet-size <bytes>', 'largest MQTT packet an edge node may send (e.g. 768KiB)', parseBytes)
    .option(
      '--node-credentials <file>',
      'JSON file {"<node>": "<password>"}: nodes with fixed passwords (besides `edgetwin node add`)',
    )
    .option('--insecure-allow-any-node', 'DEVELOPMENT ONLY: any client may connect to the cloud link as any node')
    .option(
      '--leader-elect',
      'with --source kubernetes: one of several replicas; only the holder of a Lease acts (docs/kubernetes.md)',
    )
    .option('--leader-elect-namespace <ns>', "the Lease's namespace (default: the pod's, else edgetwin)")
    .option(
      '--controller-namespace <ns>',
      "with --source kubernetes: where the Secrets with node identities and the link certificate live (default: the pod's, else edgetwin)",
    )
    .action(async (o) => {
      if (o.source !== 'embedded' && o.source !== 'kubernetes') {
        program.error(`--source must be embedded or kubernetes, not "${o.source}"`, { exitCode: 2 });
      }
      if (o.host !== undefined)
        program.error(
          '--host was split into --api-host (the HTTP API) and --link-host (the cloud-link broker): ' +
            'opening one no longer opens the other (docs/security.md)',
          { exitCode: 2 },
        );
      if (o.clientCa && (o.tls === false || o.broker))
        program.error('--client-ca needs the embedded cloud-link broker with TLS (not --no-tls or --broker)', {
          exitCode: 2,
        });
      const { brokerPassword, brokerCa, clientCa } = readSecrets(
        {
          brokerPassword: { file: o.brokerPasswordFile, env: 'EDGETWIN_BROKER_PASSWORD', what: 'broker password' },
          brokerCa: { file: o.brokerCa, what: 'broker CA', secret: false },
          clientCa: { file: o.clientCa, what: 'client CA', secret: false },
        },
        (m) => program.error(m, { exitCode: 2 }),
      );
      if (o.leaderElect && o.source !== 'kubernetes')
        program.error('--leader-elect needs --source kubernetes (the Lease lives in the cluster)', { exitCode: 2 });
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
        // everything the leader runs is loaded before it waits for the Lease: once it holds it, it must renew
        // within the renew deadline, and loading the controller from the sources blocked the event loop for
        // 1-2.5 s under load (a replica lost the Lease 2 s after taking it, and nobody was up); a takeover is
        // faster too
        const { startCloud } = await import('../compose/start-cloud.js');
        if (o.leaderElect) {
          await Promise.all([
            import('@edgetwin/device-controller/sources/kubernetes/source'),
            import('@edgetwin/device-controller/sources/kubernetes/identity-secrets'),
          ]);
          const { becomeLeader, leaseNamespace } = await import('../compose/leader.js');
          await becomeLeader(
            {
              kubeconfig: o.kubeconfig,
              namespace: leaseNamespace(o.leaderElectNamespace),
              httpHost: o.apiHost,
              httpPort: o.httpPort,
              logger,
              ...leaseTimingsFromEnv(),
            },
            life,
          );
        }
        const sharedNamespace =
          o.source === 'kubernetes'
            ? (await import('../compose/leader.js')).leaseNamespace(o.controllerNamespace)
            : undefined;
        const cloud = await startCloud(
          {
            source: o.source,
            kubeconfig: o.kubeconfig,
            dataDir: o.dataDir,
            httpHost: o.apiHost,
            httpPort: o.httpPort,
            ...(o.apiName ? { apiNames: o.apiName } : {}),
            ...(o.apiTokenFile ? { apiTokenFile: o.apiTokenFile } : {}),
            mqttHost: o.linkHost,
            mqttPort: o.mqttPort,
            brokerUrl: o.broker,
            ...(o.broker ? { brokerUsername: o.brokerUsername } : {}),
            ...(brokerPassword !== undefined ? { brokerPassword } : {}),
            ...(brokerCa !== undefined ? { brokerCa } : {}),
            ...(o.presenceTimeout !== undefined ? { presenceTimeoutMs: o.presenceTimeout } : {}),
            linkTls:
              o.tls === false
                ? false
                : {
                    ...(o.tlsCert ? { certFile: o.tlsCert } : {}),
                    ...(o.tlsKey ? { keyFile: o.tlsKey } : {}),
                    ...(o.linkName ? { names: o.linkName } : {}),
                  },
            nodeCredentials,
            ...(sharedNamespace ? { sharedNamespace } : {}),
            ...(clientCa !== undefined ? { clientCa } : {}),
            insecureAllowAnyNode: o.insecureAllowAnyNode === true,
            maxPacketBytes: o.maxPacketSize,
            logger,
          },
          life,
        );
        process.stdout.write(
          `edgetwin cloud is up\n  controller API  ${cloud.controllerUrl}   (token: ${cloud.clientFile})\n  cloud link MQTT ${cloud.linkUrl}\n` +
            (cloud.nodes
              ? `Register an edge node with: npx edgetwin node add <name>   (it prints the node's one-time join token)\n` +
                `then on the node: npx edgetwin edge --node <name> --cloud ${cloud.linkUrl} --token-file <file>\n`
              : `Edge nodes dial ${cloud.linkUrl} with the credentials the broker holds for them (docs/acl.md)\n`),
        );
      } catch (e) {
        await life.stopAll();
        throw e;
      }
      await life.untilSignal((line) => process.stdout.write(`${line}\n`));
    });
}

/** EDGETWIN_LEASE_DURATION_MS, _RENEW_DEADLINE_MS, _RETRY_PERIOD_MS: shorter terms (tests); default 15/10/2 s. */
function leaseTimingsFromEnv(): { leaseDurationMs?: number; renewDeadlineMs?: number; retryPeriodMs?: number } {
  const n = (name: string) => {
    const v = Number(process.env[name]);
    return Number.isFinite(v) && v > 0 ? v : undefined;
  };
  const out: { leaseDurationMs?: number; renewDeadlineMs?: number; retryPeriodMs?: number } = {};
  const d = n('EDGETWIN_LEASE_DURATION_MS');
  const r = n('EDGETWIN_LEASE_RENEW_DEADLINE_MS');
  const p = n('EDGETWIN_LEASE_RETRY_PERIOD_MS');
  if (d) out.leaseDurationMs = d;
  if (r) out.renewDeadlineMs = r;
  if (p) out.retryPeriodMs = p;
  return out;
}
