// Real database servers for the sink tests (issue 17), each run as the test's own process with its own
// data directory on a loopback port, never the system service: Debian's redis-server (requirepass),
// mariadbd (own datadir and socket), Prometheus, InfluxDB 1.8 and InfluxDB 2.7 (built by the test set-up). Both can be stopped and started again on the same port and data.

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, waitUntil } from '@edgetwin/eventbus/testing';
import { peerBinary } from '@edgetwin/simulators/peers';

const run = promisify(execFile);

export interface DbServer {
  port: number;
  dir: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  close(): Promise<void>;
}

/** Starts a child and resolves when a line of its output matches `ready`; rejects with its output if it exits. */
async function startUntil(cmd: string, args: string[], ready: RegExp, what: string): Promise<ChildProcess> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start within 60 s:\n${out}`)), 60_000);
    const onData = (b: Buffer) => {
      out += b.toString();
      if (ready.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code}) before it was ready:\n${out}`));
    });
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`${what}: ${e.message} (the test set-up installs it: npm test runs scripts/test-setup.sh)`));
    });
  });
  child.stdout!.resume();
  child.stderr!.resume();
  return child;
}

async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

/** redis-server with a password (in its config file, not argv) and an append-only file, so a restart keeps data. */
export async function startRedis(password: string): Promise<DbServer> {
  const dir = await mkdtemp(join(tmpdir(), 'edgetwin-redis-'));
  const port = await freePort();
  const conf = join(dir, 'redis.conf');
  await writeFile(
    conf,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `requirepass ${password}`,
      'appendonly yes',
      'appendfsync always',
      'save ""',
      '',
    ].join('\n'),
  );
  let child: ChildProcess | undefined;
  const server: DbServer = {
    port,
    dir,
    async start() {
      child = await startUntil('redis-server', [conf], /Ready to accept connections/, 'redis-server');
    },
    stop: () => stopChild(child),
    async close() {
      await stopChild(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}

/** mariadbd with its own datadir and socket; a database and a user for the sink, password given. */
export async function startMariadb(opts: { database: string; user: string; password: string }): Promise<DbServer> {
  const dir = await mkdtemp(join(tmpdir(), 'edgetwin-mariadb-'));
  const port = await freePort();
  const datadir = join(dir, 'data');
  const socket = join(dir, 'mysqld.sock');
  await run('mariadb-install-db', [
    '--no-defaults',
    `--datadir=${datadir}`,
    '--user=root',
    '--auth-root-authentication-method=normal',
    '--skip-test-db',
  ]);
  let child: ChildProcess | undefined;
  const server: DbServer = {
    port,
    dir,
    async start() {
      child = await startUntil(
        'mariadbd',
        [
          '--no-defaults',
          `--datadir=${datadir}`,
          `--socket=${socket}`,
          `--pid-file=${join(dir, 'mysqld.pid')}`,
          `--port=${port}`,
          '--bind-address=127.0.0.1',
          '--user=root',
          '--skip-name-resolve',
          '--innodb-buffer-pool-size=16M',
          '--skip-log-bin',
        ],
        /ready for connections/,
        'mariadbd',
      );
    },
    stop: () => stopChild(child),
    async close() {
      await stopChild(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
  await server.start();
  const sql = [
    `CREATE DATABASE ${opts.database};`,
    `CREATE USER '${opts.user}'@'127.0.0.1' IDENTIFIED BY '${opts.password}';`,
    `GRANT ALL ON ${opts.database}.* TO '${opts.user}'@'127.0.0.1';`,
  ].join(' ');
  // the statements (with the password) go in on stdin, not on the command line
  const client = spawn('mariadb', ['--no-defaults', `--socket=${socket}`, '-uroot'], {
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  let err = '';
  client.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  client.stdin!.end(sql);
  const [code] = (await once(client, 'exit')) as [number];
  if (code !== 0) throw new Error(`mariadb set-up failed (${code}): ${err}`);
  return server;
}

/** Starts a peer and resolves once `http://127.0.0.1:<port><health>` answers 2xx; rejects with its output if it exits. */
function httpPeer(bin: string, args: string[], port: number, health: string, dir: string): DbServer {
  let child: ChildProcess | undefined;
  const server: DbServer = {
    port,
    dir,
    async start() {
      let out = '';
      const c = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      child = c;
      c.stdout!.on('data', (b: Buffer) => (out = (out + b.toString()).slice(-4000)));
      c.stderr!.on('data', (b: Buffer) => (out = (out + b.toString()).slice(-4000)));
      await waitUntil(
        async () => {
          if (c.exitCode !== null) throw new Error(`${bin} exited:\n${out}`);
          return (await fetch(`http://127.0.0.1:${port}${health}`).catch(() => undefined))?.ok === true;
        },
        `${bin} ready`,
        60_000,
        50,
      );
    },
    stop: () => stopChild(child),
    async close() {
      await stopChild(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
  return server;
}

/** Prometheus with its OTLP receiver (`/api/v1/otlp/v1/metrics`), data in its own temp dir. */
export async function startPrometheus(): Promise<DbServer> {
  const dir = await mkdtemp(join(tmpdir(), 'edgetwin-prometheus-'));
  const port = await freePort();
  await writeFile(join(dir, 'prometheus.yml'), 'global:\n  scrape_interval: 1m\n');
  const server = httpPeer(
    peerBinary('prometheus', 'v0.316.0'),
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'prom')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--web.enable-otlp-receiver',
    ],
    port,
    '/-/ready',
    dir,
  );
  await server.start();
  return server;
}

/** InfluxDB 1.8 (which serves the v2 write API) with `database` created, data in its own temp dir. */
export async function startInfluxdb(database: string): Promise<DbServer> {
  const dir = await mkdtemp(join(tmpdir(), 'edgetwin-influxdb-'));
  const [port, rpcPort] = [await freePort(), await freePort()];
  await writeFile(
    join(dir, 'influxdb.conf'),
    [
      `bind-address = "127.0.0.1:${rpcPort}"`,
      'reporting-disabled = true',
      '[meta]',
      `  dir = "${join(dir, 'meta')}"`,
      '[data]',
      `  dir = "${join(dir, 'data')}"`,
      `  wal-dir = "${join(dir, 'wal')}"`,
      '  query-log-enabled = false',
      '[http]',
      `  bind-address = "127.0.0.1:${port}"`,
      '  log-enabled = false',
      '  flux-enabled = false',
      '[monitor]',
      '  store-enabled = false',
      '',
    ].join('\n'),
  );
  const server = httpPeer(
    peerBinary('influxd', 'v1.8.10'),
    ['run', '-config', join(dir, 'influxdb.conf')],
    port,
    '/ping',
    dir,
  );
  await server.start();
  // InfluxDB 1.x needs the database to exist (the mapper never creates it)
  const created = await fetch(`http://127.0.0.1:${port}/query`, {
    method: 'POST',
    body: new URLSearchParams({ q: `CREATE DATABASE ${database}` }),
  });
  if (!created.ok) throw new Error(`InfluxDB refused CREATE DATABASE ${database}: ${await created.text()}`);
  return server;
}

export interface Influxdb2Server extends DbServer {
  org: string;
  bucket: string;
  /** the operator token made at onboarding (all access) */
  token: string;
}

/**
 * InfluxDB OSS 2.7 with its bolt and engine files in a temp dir, onboarded through POST /api/v2/setup: an
 * org, a bucket and an operator token (sent in the request body, never on a command line).
 */
export async function startInfluxdb2(opts: { org: string; bucket: string; token: string }): Promise<Influxdb2Server> {
  const dir = await mkdtemp(join(tmpdir(), 'edgetwin-influxdb2-'));
  const port = await freePort();
  const server = httpPeer(
    peerBinary('influxd', 'v2.7.12'),
    [
      `--bolt-path=${join(dir, 'influxd.bolt')}`,
      `--engine-path=${join(dir, 'engine')}`,
      `--sqlite-path=${join(dir, 'influxd.sqlite')}`,
      `--http-bind-address=127.0.0.1:${port}`,
      '--reporting-disabled',
      '--log-level=error',
    ],
    port,
    '/health',
    dir,
  );
  await server.start();
  const setup = await fetch(`http://127.0.0.1:${port}/api/v2/setup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'edgetwin-test', password: `pw-${opts.token}`, ...opts }),
  });
  if (!setup.ok) throw new Error(`InfluxDB 2 refused the onboarding: ${setup.status} ${await setup.text()}`);
  return { ...server, ...opts };
}
