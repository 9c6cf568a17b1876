// A 3-member nats-server cluster with MQTT and JetStream, for the cloud link on a broker cluster (issue 14):
// every member on free loopback ports (client, cluster route, MQTT, monitoring), routes to the two others,
// JetStream stored in a temporary directory, and the per-node permissions of docs/acl.md ("NATS") in NATS's
// own auth config: one user for the controller, one per edge node allowed only its own node's subjects.
// Built by scripts/test-peers/45-nats.sh.
//
// Waits on the servers' own answers (the monitoring port's /healthz, a real MQTT CONNECT), never on sleeps.
// kill(i) is SIGKILL, as a crashed machine: nats-server publishes no will of the clients it held.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitUntil } from '@edgetwin/eventbus/testing';
import { peerBinary } from '@edgetwin/simulators/peers';
import mqtt from 'mqtt';
import { bootOrStop } from './support.js';

export const NATS_VERSION = 'v2.15.3';
export const NATS_CONTROLLER_USER = 'edgetwin-controller';

export interface NatsClusterOptions {
  /** edge node name -> its password on the cluster */
  nodes: Record<string, string>;
  controllerPassword: string;
  /** members (default 3) */
  size?: number;
}

interface Member {
  name: string;
  clientPort: number;
  routePort: number;
  mqttPort: number;
  httpPort: number;
  confFile: string;
  proc?: { child: ChildProcess; output: string[]; exited: Promise<void> };
}

/** The MQTT topic `a/b.c` as NATS names it, `a.b//c` (docs.nats.io, MQTT topics and subjects; no empty levels here). */
export function natsSubject(topic: string): string {
  return topic
    .split('/')
    .map((level) => level.replaceAll('.', '//'))
    .join('.');
}

/**
 * The authorization block of docs/acl.md for these nodes: the controller may use every subject of the link;
 * a node may publish only its own reports and presence and subscribe only its own desired state and acks.
 * (`desired/#` also matches `desired` itself, which NATS subscribes separately: it is allowed too.)
 */
export function natsAuthorization(controllerPassword: string, nodes: Record<string, string>): string {
  const base = 'edgetwin.cloud.v1.nodes';
  const users = [
    `    { user: "${NATS_CONTROLLER_USER}", password: "${controllerPassword}",\n` +
      `      permissions: { publish: ["edgetwin.cloud.v1.>"], subscribe: ["edgetwin.cloud.v1.>"] } }`,
  ];
  for (const [node, password] of Object.entries(nodes)) {
    const n = natsSubject(node);
    users.push(
      `    { user: "${node}", password: "${password}",\n` +
        `      permissions: { publish: ["${base}.${n}.reports", "${base}.${n}.presence"],\n` +
        `                     subscribe: ["${base}.${n}.desired", "${base}.${n}.desired.>", "${base}.${n}.acks"] } }`,
    );
  }
  return `authorization {\n  users: [\n${users.join(',\n')}\n  ]\n}\n`;
}

const OUTPUT_LINES = 2000;
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export class NatsCluster {
  readonly dir: string;
  private readonly members: Member[] = [];

  private constructor(private readonly opts: NatsClusterOptions) {
    this.dir = mkdtempSync(join(tmpdir(), 'edgetwin-nats-'));
  }

  static async start(opts: NatsClusterOptions): Promise<NatsCluster> {
    const c = new NatsCluster(opts);
    return bootOrStop(c, () => c.boot());
  }

  /** mqtt://127.0.0.1:PORT of each member, in order */
  get mqttUrls(): string[] {
    return this.members.map((m) => `mqtt://127.0.0.1:${m.mqttPort}`);
  }

  /** Which member (index) listens on this MQTT port, or -1. */
  memberOfPort(port: number): number {
    return this.members.findIndex((m) => m.mqttPort === port);
  }

  /** The member (index) holding the MQTT connection of this client id, from the members' /connz; -1 if none. */
  async memberHolding(clientId: string): Promise<number> {
    for (let i = 0; i < this.members.length; i++) {
      if (!this.isRunning(i)) continue;
      try {
        const res = await fetch(
          `http://127.0.0.1:${this.members[i]!.httpPort}/connz?mqtt_client=${encodeURIComponent(clientId)}`,
          {
            signal: AbortSignal.timeout(2000),
          },
        );
        const body = (await res.json()) as { connections?: Array<{ mqtt_client?: string }> };
        if (body.connections?.some((c) => c.mqtt_client === clientId)) return i;
      } catch {
        // a member going down: not holding it
      }
    }
    return -1;
  }

  isRunning(i: number): boolean {
    const p = this.members[i]?.proc;
    return Boolean(p && p.child.exitCode === null && p.child.signalCode === null);
  }

  private async boot(): Promise<void> {
    const size = this.opts.size ?? 3;
    for (let i = 0; i < size; i++) {
      const name = `n${i + 1}`;
      this.members.push({
        name,
        clientPort: await freePort(),
        routePort: await freePort(),
        mqttPort: await freePort(),
        httpPort: await freePort(),
        confFile: join(this.dir, `${name}.conf`),
      });
    }
    const auth = natsAuthorization(this.opts.controllerPassword, this.opts.nodes);
    const routes = this.members.map((m) => `nats-route://127.0.0.1:${m.routePort}`);
    for (const m of this.members) {
      const store = join(this.dir, m.name);
      mkdirSync(store, { recursive: true });
      writeFileSync(
        m.confFile,
        [
          `server_name: ${m.name}`,
          `listen: 127.0.0.1:${m.clientPort}`,
          `http: 127.0.0.1:${m.httpPort}`,
          `jetstream { store_dir: "${store}", max_memory_store: 64MB, max_file_store: 1GB }`,
          `cluster { name: edgetwin-link, listen: 127.0.0.1:${m.routePort}, routes: [${routes.filter((r) => !r.endsWith(`:${m.routePort}`)).join(', ')}] }`,
          // every MQTT stream on all three members: one member lost leaves a quorum (by default the replicas are
          // the members routed when the first MQTT client came, which can be 2: then one death stalls them)
          `mqtt { listen: 127.0.0.1:${m.mqttPort}, stream_replicas: ${this.members.length} }`,
          auth,
        ].join('\n'),
      );
    }
    for (let i = 0; i < this.members.length; i++) this.spawn(i);
    await Promise.all(this.members.map((_, i) => this.ready(i)));
  }

  private spawn(i: number): void {
    const m = this.members[i]!;
    const child = spawn(peerBinary('nats-server', NATS_VERSION), ['-c', m.confFile], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(child);
    const output: string[] = [];
    const keep = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        output.push(`${m.name}: ${line}`);
        if (output.length > OUTPUT_LINES) output.shift();
      }
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const exited = new Promise<void>((r) =>
      child.once('exit', () => {
        live.delete(child);
        r();
      }),
    );
    m.proc = { child, output, exited };
  }

  /** A member serves MQTT: JetStream is current (/healthz) and an MQTT CONNECT of the controller is accepted. */
  private async ready(i: number, timeoutMs = 60_000): Promise<void> {
    const m = this.members[i]!;
    await waitUntil(
      async () => {
        if (!this.isRunning(i)) throw new Error(`nats-server ${m.name} exited`);
        try {
          const res = await fetch(`http://127.0.0.1:${m.httpPort}/healthz`, { signal: AbortSignal.timeout(2000) });
          return res.ok;
        } catch {
          return false;
        }
      },
      `nats-server ${m.name} healthy`,
      timeoutMs,
      100,
    );
    await waitUntil(
      async () => {
        try {
          const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${m.mqttPort}`, {
            username: NATS_CONTROLLER_USER,
            password: this.opts.controllerPassword,
            clientId: `edgetwin-probe-${m.name}`,
            clean: true,
            reconnectPeriod: 0,
            connectTimeout: 5000,
          });
          await c.endAsync(true);
          return true;
        } catch {
          return false;
        }
      },
      `nats-server ${m.name} accepting MQTT`,
      timeoutMs,
      200,
    );
  }

  /** SIGKILL member i (a crashed machine) and wait for it to be gone. */
  async kill(i: number): Promise<void> {
    const p = this.members[i]?.proc;
    if (!p || !this.isRunning(i)) return;
    p.child.kill('SIGKILL');
    await p.exited;
  }

  /** Starts member i again (same ports, same JetStream store) and waits until it serves MQTT. */
  async restart(i: number): Promise<void> {
    if (this.isRunning(i)) return;
    this.spawn(i);
    await this.ready(i);
  }

  output(): string {
    return this.members.flatMap((m) => m.proc?.output ?? []).join('\n');
  }

  async stop(): Promise<void> {
    await Promise.all(this.members.map((_, i) => this.kill(i)));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
