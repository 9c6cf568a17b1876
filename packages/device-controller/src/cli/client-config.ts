// How the CLI finds the controller and its API token without a flag (issue 10 §3, docs/security.md).
// `edgetwin cloud`/`up` write a kubeconfig-like client file, <data-dir>/client.json {server, token}
// (mode 0600), each time they start; commands on the same machine read it. In order:
//   server: --server, EDGETWIN_SERVER, the client file, http://127.0.0.1:8080
//   token:  EDGETWIN_TOKEN, EDGETWIN_TOKEN_FILE, the client file (only for the server it names)
//   client file: EDGETWIN_CONFIG, else <--data-dir | EDGETWIN_DATA_DIR | .edgetwin>/client.json,
//                else ~/.config/edgetwin/client.json
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { readSecretFile, writeSecretFile } from '@edgetwin/api/secret-file';

export const CLIENT_FILE = 'client.json';
export const DEFAULT_SERVER = 'http://127.0.0.1:8080';
export const DEFAULT_DATA_DIR = '.edgetwin';

export interface ClientConfig {
  server: string;
  token: string;
}

export interface Connection {
  server: string;
  token?: string;
  /** where the token came from, for error messages */
  tokenFrom?: string;
  /** why no token is sent, when none is */
  noTokenBecause?: string;
}

/** A URL clients can dial: an API listening on every address is reached on loopback. */
export function dialableUrl(url: string): string {
  return url.replace('://0.0.0.0:', '://127.0.0.1:').replace('://[::]:', '://[::1]:');
}

export function writeClientConfig(dataDir: string, config: ClientConfig): string {
  const path = join(dataDir, CLIENT_FILE);
  writeSecretFile(path, `${JSON.stringify({ ...config, server: dialableUrl(config.server) }, null, 2)}\n`);
  return path;
}

export function readClientConfig(path: string): ClientConfig {
  const text = readSecretFile(path, 'client file');
  let parsed: Partial<ClientConfig>;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: not JSON: ${(e as Error).message}`);
  }
  if (typeof parsed.server !== 'string' || typeof parsed.token !== 'string')
    throw new Error(`${path}: expected {"server": "<url>", "token": "<token>"}`);
  return { server: parsed.server, token: parsed.token };
}

function clientFilePath(dataDir: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  if (env.EDGETWIN_CONFIG) return env.EDGETWIN_CONFIG;
  const local = join(dataDir ?? env.EDGETWIN_DATA_DIR ?? DEFAULT_DATA_DIR, CLIENT_FILE);
  if (existsSync(local)) return local;
  const home = join(homedir(), '.config', 'edgetwin', CLIENT_FILE);
  return existsSync(home) ? home : undefined;
}

const sameServer = (a: string, b: string) => a.replace(/\/+$/, '') === b.replace(/\/+$/, '');

export function resolveConnection(
  given: { server?: string; dataDir?: string },
  env: NodeJS.ProcessEnv = process.env,
): Connection {
  const file = clientFilePath(given.dataDir, env);
  const config = file ? readClientConfig(file) : undefined;
  const server = given.server || env.EDGETWIN_SERVER || config?.server || DEFAULT_SERVER;
  if (env.EDGETWIN_TOKEN) return { server, token: env.EDGETWIN_TOKEN.trim(), tokenFrom: 'EDGETWIN_TOKEN' };
  if (env.EDGETWIN_TOKEN_FILE)
    return {
      server,
      token: readSecretFile(env.EDGETWIN_TOKEN_FILE, 'API token'),
      tokenFrom: env.EDGETWIN_TOKEN_FILE,
    };
  if (config && file) {
    // A token goes only to the server it was issued by: --server elsewhere must not leak it.
    if (sameServer(config.server, server)) return { server, token: config.token, tokenFrom: file };
    return { server, noTokenBecause: `${file} is for ${config.server}, not ${server}` };
  }
  return {
    server,
    noTokenBecause: `no client file (${join(given.dataDir ?? env.EDGETWIN_DATA_DIR ?? DEFAULT_DATA_DIR, CLIENT_FILE)}) and no EDGETWIN_TOKEN`,
  };
}

/** The token of `<dataDir>/client.json`, for tools and tests that start a stack in a data dir. */
export function readClientToken(dataDir: string): string {
  return readClientConfig(join(dataDir, CLIENT_FILE)).token;
}
