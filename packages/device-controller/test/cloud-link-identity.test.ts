// Issue 10 §1: node identity on the cloud link, against the embedded broker. Each attack must fail while
// the same action by the node that owns it succeeds: unknown node, wrong password, a join token used
// twice, node A as B (username, client id, session takeover of B and of the controller, forged reports
// and acks), a removed node cut off at once. The same rules on Mosquitto: cloud-link-mosquitto.test.ts.

import { mkdtemp, rm } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cloudTopics } from '@edgetwin/api';
import { decodeJoinToken, joinPassword } from '@edgetwin/api/join-token';
import { loadEdgeCredential } from '@edgetwin/devicetwin/cloud-link/node-credential';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { type CloudLink, NodeRegistry, startCloudLink } from '../src/cloud-link/index.js';
import { FakeDesired, FakeStatus } from './cloud-link-support.js';

const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

const entry = (seq: number) => ({
  seq,
  timestamp: 1_700_000_000_000 + seq,
  kind: 'twin' as const,
  deviceId: 'default/t1',
  twins: [{ property: 'temp', reported: { value: String(seq), timestamp: 1_700_000_000_000 + seq, type: 'int' } }],
});

async function world(opts: { insecureAllowAnyNode?: boolean } = {}) {
  const nodes = new NodeRegistry();
  closers.push(() => nodes.close());
  const status = new FakeStatus();
  const link: CloudLink = await startCloudLink({
    desired: new FakeDesired(),
    status,
    broker: { embedded: { port: 0 } },
    nodeRegistry: nodes,
    ...opts,
  });
  closers.push(() => link.close());
  return { nodes, status, link };
}

/** Connects as `username` with the client id an edge uses unless told otherwise. */
async function connect(url: string, username: string, password: string | undefined, clientId?: string) {
  const c = await mqtt.connectAsync(url, {
    username,
    ...(password !== undefined ? { password } : {}),
    clientId: clientId ?? `edgetwin-edge-${username}`,
    reconnectPeriod: 0,
    clean: false,
  });
  closers.push(() => c.endAsync(true));
  return c;
}

const refused = (p: Promise<unknown>) => expect(p).rejects.toThrow(/Bad username or password|Not authorized/i);

/** A node that has joined: its client, and the credential it chose. */
async function joined(url: string, nodes: NodeRegistry, name: string): Promise<{ c: MqttClient; credential: string }> {
  const { secret } = decodeJoinToken(nodes.add(name));
  const credential = `cred-${name}-${Math.random().toString(36).slice(2)}`;
  const c = await connect(url, name, joinPassword(secret, credential));
  return { c, credential };
}

function closed(c: MqttClient): Promise<void> {
  return new Promise((resolve) => (c.connected ? c.once('close', () => resolve()) : resolve()));
}

describe('cloud link identity (embedded broker)', () => {
  it('refuses an unknown node, and one that is registered but has not joined, with any password', async () => {
    const { link, nodes } = await world();
    await refused(connect(link.url, 'stranger', 'anything'));
    await refused(connect(link.url, 'stranger', undefined));
    nodes.add('gw-1');
    await refused(connect(link.url, 'gw-1', 'guess'));
    const { c } = await joined(link.url, nodes, 'gw-2');
    expect(c.connected).toBe(true);
  });

  it('accepts a join token once: a second edge with the same token is refused, the first keeps its credential', async () => {
    const { link, nodes } = await world();
    const token = decodeJoinToken(nodes.add('gw-1'));
    const first = await connect(link.url, 'gw-1', joinPassword(token.secret, 'credential-of-the-real-gw-1'));
    await first.endAsync();
    await refused(connect(link.url, 'gw-1', joinPassword(token.secret, 'credential-of-an-attacker')));
    await refused(connect(link.url, 'gw-1', 'credential-of-an-attacker'));
    // the real node's credential (and the same join retried after a crash) still work
    const again = await connect(link.url, 'gw-1', 'credential-of-the-real-gw-1');
    expect(again.connected).toBe(true);
    await again.endAsync();
    expect((await connect(link.url, 'gw-1', joinPassword(token.secret, 'credential-of-the-real-gw-1'))).connected).toBe(
      true,
    );
    expect(nodes.list()).toMatchObject([{ name: 'gw-1', joined: true }]);
  });

  it('refuses an expired join token', async () => {
    let now = 1_000_000;
    const nodes = new NodeRegistry(':memory:', { now: () => now });
    closers.push(() => nodes.close());
    const { secret } = decodeJoinToken(nodes.add('gw-1', { ttlMs: 1000 }));
    now += 1001;
    expect(nodes.verify('gw-1', joinPassword(secret, 'c'))).toBe(false);
  });

  it('keeps node A from posing as B: by username, by client id, or by taking over B’s or the controller’s session', async () => {
    const { link, nodes, status } = await world();
    const a = await joined(link.url, nodes, 'a');
    const b = await joined(link.url, nodes, 'b');
    let bDropped = false;
    b.c.on('close', () => {
      bDropped = true;
    });
    // A's credential as B
    await refused(connect(link.url, 'b', a.credential));
    // A, with its own credential, asking for B's client id (would take over B's session and queue)
    await refused(connect(link.url, 'a', a.credential, 'edgetwin-edge-b'));
    // ... or the controller's (would cut the controller off from every node)
    await refused(connect(link.url, 'a', a.credential, 'edgetwin-controller'));
    // ... or any other id
    await refused(connect(link.url, 'a', a.credential, 'something-else'));
    // nobody can be the controller by name
    await refused(connect(link.url, 'edgetwin-controller', 'guess', 'edgetwin-controller'));

    // B is still connected, and the controller still takes reports: B's own report is applied
    await b.c.publishAsync(cloudTopics.reports('b'), JSON.stringify({ node: 'b', after: 0, entries: [entry(1)] }), {
      qos: 1,
    });
    await status.until(() => status.seqs('b').length === 1, "b's report");
    expect(bDropped).toBe(false);
    expect(b.c.connected).toBe(true);
  });

  it('drops reports and acks that A forges for B, while A’s own report is applied', async () => {
    const { link, nodes, status } = await world();
    const a = await joined(link.url, nodes, 'a');
    const b = await joined(link.url, nodes, 'b');
    const bAcks: string[] = [];
    b.c.on('message', (_t, p) => bAcks.push(p.toString()));
    await b.c.subscribeAsync(cloudTopics.acks('b'), { qos: 1 });

    await a.c.publishAsync(cloudTopics.reports('b'), JSON.stringify({ node: 'b', after: 0, entries: [entry(7)] }), {
      qos: 1,
    });
    await a.c.publishAsync(cloudTopics.acks('b'), JSON.stringify({ upTo: 999_999_999, timestamp: 0 }), {
      qos: 1,
      retain: true,
    });
    await a.c.publishAsync(cloudTopics.reports('a'), JSON.stringify({ node: 'a', after: 0, entries: [entry(1)] }), {
      qos: 1,
    });
    await status.until(() => status.seqs('a').length === 1, "a's own report");
    await link.idle();
    expect(status.seqs('b')).toEqual([]);
    expect(bAcks.filter((p) => p.includes('999999999'))).toEqual([]);
  });

  it('cuts a removed node off at once and refuses it afterwards; another node stays', async () => {
    const { link, nodes } = await world();
    const a = await joined(link.url, nodes, 'a');
    const b = await joined(link.url, nodes, 'b');
    const gone = closed(a.c);
    nodes.remove('a');
    await gone; // no keepalive wait: the broker closed it
    await refused(connect(link.url, 'a', a.credential));
    expect(b.c.connected).toBe(true);
  });

  it('re-issuing a token (rotation) revokes the old credential and closes the session', async () => {
    const { link, nodes } = await world();
    const a = await joined(link.url, nodes, 'a');
    const gone = closed(a.c);
    const { secret } = decodeJoinToken(nodes.add('a', { rejoin: true }));
    await gone;
    await refused(connect(link.url, 'a', a.credential));
    expect((await connect(link.url, 'a', joinPassword(secret, 'new-credential'))).connected).toBe(true);
  });

  it('the edge keeps its credential in its data dir (0600) and needs the token only once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgetwin-identity-'));
    closers.push(() => rm(dir, { recursive: true, force: true }));
    const { link, nodes } = await world();
    const token = nodes.add('gw-1');
    const first = loadEdgeCredential({ dataDir: dir, node: 'gw-1', joinToken: token });
    expect(first?.joining).toBe(true);
    const c = await connect(link.url, 'gw-1', first!.password);
    first!.accepted();
    await c.endAsync();
    const file = join(dir, 'cloud-identity-gw-1.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const later = loadEdgeCredential({ dataDir: dir, node: 'gw-1' });
    expect(later?.joining).toBe(false);
    expect((await connect(link.url, 'gw-1', later!.password)).connected).toBe(true);
    // a token for another node is refused before anything is sent
    expect(() => loadEdgeCredential({ dataDir: dir, node: 'gw-2', joinToken: token })).toThrow(
      /the join token is for node gw-1, not gw-2/,
    );
  });

  it('with --insecure-allow-any-node any node name connects, but reserved client ids stay with their owners', async () => {
    const { link } = await world({ insecureAllowAnyNode: true });
    expect((await connect(link.url, 'whoever', 'whatever')).connected).toBe(true);
    await refused(connect(link.url, 'x', 'y', 'edgetwin-controller'));
    await refused(connect(link.url, 'x', 'y', 'edgetwin-edge-whoever'));
  });
});
