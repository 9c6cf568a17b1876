// The mapper REST API's command-line options (issue 17), shared by `edgetwin mapper`, `edge` and `up`:
// port 7777 and loopback by default; the token comes from a file or EDGETWIN_MAPPER_REST_TOKEN, never argv.
import { readFileSync } from 'node:fs';
import { DEFAULT_REST_PORT, type RestOptions } from '@edgetwin/mappers/framework/rest/server';
import type { Command } from 'commander';
import { parsePort } from './options.js';

export function addRestOptions(cmd: Command): Command {
  return cmd
    .option(
      '--rest-port <port>',
      `port of the mapper REST API (KubeEdge's ${DEFAULT_REST_PORT}; each mapper process needs its own; 0 = any free port)`,
      parsePort,
      DEFAULT_REST_PORT,
    )
    .option(
      '--rest-host <addr>',
      'address of the mapper REST API (beyond loopback it needs a token and TLS)',
      '127.0.0.1',
    )
    .option(
      '--rest-token-file <file>',
      'file holding the bearer token REST clients send (or EDGETWIN_MAPPER_REST_TOKEN)',
    )
    .option('--rest-tls-cert <file>', 'PEM certificate for the REST API')
    .option('--rest-tls-key <file>', 'PEM private key for the REST API')
    .option('--no-rest', 'do not serve the mapper REST API');
}

export interface RestCliOptions {
  rest: boolean;
  restPort: number;
  restHost: string;
  restTokenFile?: string;
  restTlsCert?: string;
  restTlsKey?: string;
}

/** The REST options the flags and environment ask for, or undefined with --no-rest. */
export function restOptionsFrom(o: RestCliOptions): RestOptions | undefined {
  if (!o.rest) return undefined;
  const token = o.restTokenFile
    ? readFileSync(o.restTokenFile, 'utf8').trim()
    : process.env.EDGETWIN_MAPPER_REST_TOKEN?.trim() || undefined;
  if (o.restTokenFile && !token) throw new Error(`--rest-token-file ${o.restTokenFile} is empty`);
  if (Boolean(o.restTlsCert) !== Boolean(o.restTlsKey))
    throw new Error('--rest-tls-cert and --rest-tls-key go together');
  return {
    port: o.restPort,
    host: o.restHost,
    ...(token ? { token } : {}),
    ...(o.restTlsCert && o.restTlsKey ? { tls: { certFile: o.restTlsCert, keyFile: o.restTlsKey } } : {}),
  };
}
