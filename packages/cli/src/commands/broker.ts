// `edgetwin broker`: the embedded edge broker on its own, e.g. for mappers running as separate processes,
// for apps in other languages, or to replace a Mosquitto with the same password and ACL files.
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import {
  aclAuth,
  type EmbeddedBrokerOptions,
  metricsRegistry,
  parseAclFile,
  parsePasswordFile,
  startBroker,
} from '@edgetwin/eventbus';
import { isLoopback } from '@edgetwin/mappers/framework/rest/server';
import type { Command } from 'commander';
import { Lifecycle } from '../compose/lifecycle.js';
import { cliLogger } from '../compose/logger.js';
import { parseBytes, parsePort } from '../compose/options.js';
import { DEFAULTS } from '../compose/ports.js';

async function readNamed(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

function serveMetrics(host: string, port: number): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end('see /metrics\n');
      return;
    }
    metricsRegistry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': metricsRegistry.contentType }).end(text),
      (err: Error) => res.writeHead(500).end(`${err.message}\n`),
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

export function registerBroker(program: Command): void {
  program
    .command('broker')
    .description('run the embedded edge MQTT broker (aedes) alone: auth, ACL, TLS, durable sessions')
    .option('--host <addr>', 'listen address', DEFAULTS.host)
    .option('--port <port>', 'listen port (0 = any free port)', parsePort, DEFAULTS.edgeMqttPort)
    .option('--data-dir <dir>', 'keep sessions, queued QoS 1 messages and retained messages here (default: memory)')
    .option('--password-file <file>', 'user:password lines; clients must log in')
    .option('--acl-file <file>', 'Mosquitto-format ACL (user / topic / pattern lines)')
    .option('--tls-cert <file>', 'PEM certificate: serve mqtts://')
    .option('--tls-key <file>', 'PEM private key for --tls-cert')
    .option('--max-packet-size <bytes>', 'largest MQTT packet a client may send (default 768KiB)', parseBytes)
    .option('--metrics-port <port>', 'serve Prometheus metrics on http://<host>:<port>/metrics', parsePort)
    .option('--insecure-allow-anonymous', 'development only: listen beyond loopback without --password-file')
    .action(async (o) => {
      const logger = cliLogger();
      if (Boolean(o.tlsCert) !== Boolean(o.tlsKey)) throw new Error('--tls-cert and --tls-key go together');
      // Mosquitto 2's rule (issue 10 §4): local-only until configured, then no anonymous access unless allowed
      if (!isLoopback(o.host) && !o.passwordFile && !o.insecureAllowAnonymous)
        program.error(
          `broker on ${o.host}: anyone on the network could connect anonymously; give --password-file FILE ` +
            '(and --acl-file, --tls-cert/--tls-key), or accept the risk with --insecure-allow-anonymous',
          { exitCode: 2 },
        );
      if (!isLoopback(o.host) && !o.passwordFile)
        logger.warn({ host: o.host }, 'INSECURE: the broker accepts anonymous clients from the network');
      if (!isLoopback(o.host) && !o.tlsCert)
        logger.warn({ host: o.host }, 'passwords cross the network in clear: add --tls-cert/--tls-key');
      const opts: EmbeddedBrokerOptions = { host: o.host, port: o.port, logger };
      if (o.maxPacketSize !== undefined) opts.maxPacketBytes = o.maxPacketSize;
      if (o.dataDir) opts.persistenceDir = join(o.dataDir, 'broker');
      if (o.passwordFile) {
        opts.users = parsePasswordFile(await readNamed(o.passwordFile, 'password file'), o.passwordFile);
      }
      if (o.aclFile) opts.auth = aclAuth(parseAclFile(await readNamed(o.aclFile, 'ACL file'), o.aclFile));
      if (o.tlsCert) {
        opts.tls = {
          cert: await readNamed(o.tlsCert, 'TLS certificate'),
          key: await readNamed(o.tlsKey, 'TLS key'),
        };
      }
      const life = new Lifecycle(logger);
      const broker = await startBroker(opts);
      life.add('broker', () => broker.close());
      let metricsLine = '';
      if (o.metricsPort !== undefined) {
        const server = await serveMetrics(o.host, o.metricsPort);
        life.add('metrics', () => new Promise((r) => server.close(() => r())));
        const { port } = server.address() as { port: number };
        metricsLine = `\n  metrics  http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}/metrics`;
      }
      process.stdout.write(
        `edgetwin broker listening on ${broker.url}\n` +
          `  auth     ${o.passwordFile ? `users from ${o.passwordFile}` : 'anonymous allowed'}` +
          `${o.aclFile ? `, ACL from ${o.aclFile}` : ''}\n` +
          `  sessions ${o.dataDir ? opts.persistenceDir : 'in memory (lost on restart)'}${metricsLine}\n`,
      );
      await life.untilSignal((line) => process.stdout.write(`${line}\n`));
    });
}
