// The cloud link on an external broker: a real Mosquitto configured with the password file and ACL of
// docs/acl.md. The controller and an edge node connect to it as they would in production.

import { cloudTopics, decodeDesiredIndex } from '@edgetwin/api';
import { type RunningMosquitto, startMosquitto } from '@edgetwin/eventbus/testing';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, expect, it } from 'vitest';
import { startCloudLink } from '../src/cloud-link/index.js';
import { device, FakeDesired, FakeStatus, model } from './cloud-link-support.js';

// docs/acl.md, verbatim
const ACL = [
  'user edgetwin-controller',
  'topic readwrite edgetwin/cloud/v1/#',
  '',
  'pattern read edgetwin/cloud/v1/nodes/%u/desired/#',
  'pattern read edgetwin/cloud/v1/nodes/%u/acks',
  'pattern write edgetwin/cloud/v1/nodes/%u/reports',
  'pattern write edgetwin/cloud/v1/nodes/%u/presence',
];
const USERS = { 'edgetwin-controller': 'controller-secret', a: 'secret-a', b: 'secret-b' };
// docs/acl.md's mosquitto.conf lines beyond listener, users and ACL (which startMosquitto writes)
const CONF = ['use_username_as_clientid true'];

const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

async function node(
  broker: RunningMosquitto,
  name: 'a' | 'b',
  clientId = `edgetwin-edge-${name}`,
): Promise<MqttClient> {
  const c = await mqtt.connectAsync(broker.url, {
    username: name,
    password: USERS[name],
    clientId,
    clean: false,
    reconnectPeriod: 0,
  });
  closers.push(() => c.endAsync(true));
  return c;
}

it('runs on Mosquitto with the documented ACL: each node reads only its own desired state and writes only its reports', async () => {
  const broker = await startMosquitto({ users: USERS, acl: ACL, extraConfig: CONF });
  closers.push(() => broker.stop());
  const desired = new FakeDesired();
  const status = new FakeStatus();
  desired.setModel('a', model('thermo'));
  desired.setDevice('a', device('ta', 'a'));
  desired.setModel('b', model('thermo'));
  desired.setDevice('b', device('tb', 'b'));
  const link = await startCloudLink({
    desired,
    status,
    broker: { url: broker.url, username: 'edgetwin-controller', password: USERS['edgetwin-controller'] },
  });
  closers.push(() => link.close());
  await link.idle();

  const a = await node(broker, 'a');
  const seen: string[] = [];
  a.on('message', (topic, payload) => {
    seen.push(topic);
    if (topic === cloudTopics.index('a')) {
      const idx = decodeDesiredIndex(payload);
      if (idx.ok) expect(Object.keys(idx.value.devices)).toEqual(['default/ta']);
    }
  });
  await a.subscribeAsync(cloudTopics.desiredFilter('a'), { qos: 1 });
  // Mosquitto grants a subscription outside the ACL but never delivers on it
  await a.subscribeAsync(cloudTopics.desiredFilter('b'), { qos: 1 }).catch(() => undefined);

  // forged: a's report on b's topic; then a marker report of a's own
  await a.publishAsync(cloudTopics.reports('b'), JSON.stringify({ node: 'b', entries: [entryOf(1)] }), { qos: 1 });
  await a.publishAsync(cloudTopics.reports('a'), JSON.stringify({ node: 'a', entries: [entryOf(1)] }), { qos: 1 });
  await status.until(() => status.seqs('a').length === 1, "a's marker report");
  await link.idle();
  expect(status.seqs('b')).toEqual([]);

  // a's own retained state arrived; nothing of b's did (the marker came after everything above)
  expect(seen).toContain(cloudTopics.device('a', 'default/ta'));
  expect(seen).toContain(cloudTopics.index('a'));
  expect(seen.filter((t) => t.includes('/nodes/b/'))).toEqual([]);

  // wrong password, unknown node, no user at all
  for (const [username, password] of [
    ['a', 'wrong'],
    ['stranger', USERS.a],
    [undefined, undefined],
  ])
    await expect(
      mqtt.connectAsync(broker.url, {
        ...(username ? { username, password } : {}),
        clientId: `edgetwin-edge-${username}`,
        reconnectPeriod: 0,
      }),
      `${username}/${password}`,
    ).rejects.toThrow(/Not authorized|Bad username or password/);
});

function entryOf(seq: number) {
  return {
    seq,
    timestamp: Date.now(),
    kind: 'state' as const,
    deviceId: 'default/ta',
    state: 'online',
    lastOnlineTime: new Date().toISOString(),
  };
}

it('on Mosquitto, node a cannot take over the session of b or of the controller by their client ids (use_username_as_clientid)', async () => {
  const broker = await startMosquitto({ users: USERS, acl: ACL, extraConfig: CONF });
  closers.push(() => broker.stop());
  const status = new FakeStatus();
  const link = await startCloudLink({
    desired: new FakeDesired(),
    status,
    broker: { url: broker.url, username: 'edgetwin-controller', password: USERS['edgetwin-controller'] },
  });
  closers.push(() => link.close());
  await link.idle();
  const b = await node(broker, 'b');
  let bDropped = false;
  b.on('close', () => {
    bDropped = true;
  });
  // a asks for b's id, then the controller's: Mosquitto gives it its username as id instead
  const asB = await node(broker, 'a', 'edgetwin-edge-b');
  const asController = await node(broker, 'a', 'edgetwin-controller');
  expect(asController.connected).toBe(true);
  await asB.endAsync();
  // b and the controller are still there: b's report is applied
  await b.publishAsync(cloudTopics.reports('b'), JSON.stringify({ node: 'b', after: 0, entries: [entryOf(1)] }), {
    qos: 1,
  });
  await status.until(() => status.seqs('b').length === 1, "b's report through the controller");
  expect(bDropped).toBe(false);
  // a's forged ack for b never reaches b
  const acks: string[] = [];
  b.on('message', (_t, p) => acks.push(p.toString()));
  await b.subscribeAsync(cloudTopics.acks('b'), { qos: 1 });
  await asController.publishAsync(cloudTopics.acks('b'), JSON.stringify({ upTo: 999_999_999, timestamp: 0 }), {
    qos: 1,
    retain: true,
  });
  await b.publishAsync(cloudTopics.reports('b'), JSON.stringify({ node: 'b', after: 1, entries: [entryOf(2)] }), {
    qos: 1,
  });
  await status.until(() => status.seqs('b').length === 2, "b's second report");
  await link.idle();
  expect(acks.filter((p) => p.includes('999999999'))).toEqual([]);
});
