// Issue 10 §4: the edge broker keeps KubeEdge's `$hw` API open to anonymous apps, while the mapper-facing
// contract (`edgetwin/v1/...`) is the twin's and the mappers': an anonymous client can neither overwrite
// a retained device spec (which the next mapper would obey) nor read those topics, even through `#`.
import { mapperDeviceTopic, reportAnswerTopic, reportsTopic } from '@edgetwin/api';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { startBroker } from '../src/broker.js';
import { EDGE_SERVICE_USER, edgeBusAuth } from '../src/edge-bus-acl.js';

const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

const PASSWORD = 'service-secret';
const SPEC = mapperDeviceTopic('n1', 'modbus', 'default/valve-1');

async function world() {
  const broker = await startBroker({ port: 0, auth: edgeBusAuth(PASSWORD) });
  closers.push(() => broker.close());
  const connect = async (opts: mqtt.IClientOptions = {}): Promise<MqttClient> => {
    const c = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0, ...opts });
    closers.push(() => c.endAsync(true));
    return c;
  };
  return { broker, connect, service: () => connect({ username: EDGE_SERVICE_USER, password: PASSWORD }) };
}

/** Every message a fresh subscription to `filter` gets, retained ones included, until `marker` arrives. */
async function receivedUntil(c: MqttClient, filter: string, marker: () => Promise<unknown>, markerTopic: string) {
  const got: Array<{ topic: string; payload: string }> = [];
  const done = new Promise<void>((resolve) =>
    c.on('message', (topic, payload) => {
      got.push({ topic, payload: payload.toString() });
      if (topic === markerTopic) resolve();
    }),
  );
  await c.subscribeAsync(filter, { qos: 1 });
  await marker();
  await done;
  return got;
}

describe('edge bus ACL', () => {
  it('drops an anonymous retained publish on a mapper device spec; the twin’s spec stays what the mapper reads', async () => {
    const { connect, service } = await world();
    const twin = await service();
    await twin.publishAsync(SPEC, '{"spec":"from the twin"}', { qos: 1, retain: true });
    const app = await connect();
    await app.publishAsync(SPEC, '{"spec":"forged"}', { qos: 1, retain: true });
    const mapper = await service();
    const marker = 'edgetwin/v1/nodes/n1/mappers/modbus/presence';
    const got = await receivedUntil(
      mapper,
      'edgetwin/v1/#',
      () => twin.publishAsync(marker, 'online', { qos: 1 }),
      marker,
    );
    expect(got.filter((m) => m.topic === SPEC).map((m) => m.payload)).toEqual(['{"spec":"from the twin"}']);
  });

  it('keeps mapper topics from anonymous readers, even through #, while $hw works anonymously', async () => {
    const { connect, service } = await world();
    const app = await connect();
    await expect(app.subscribeAsync('edgetwin/v1/#', { qos: 1 })).rejects.toThrow();
    const reader = await connect();
    const twin = await service();
    const marker = 'plain/marker';
    const got = await receivedUntil(
      reader,
      '#',
      async () => {
        await twin.publishAsync(SPEC, '{"spec":"secret"}', { qos: 1 });
        await twin.publishAsync(marker, 'end', { qos: 1 });
      },
      marker,
    );
    expect(got.map((m) => m.topic)).toEqual([marker]);

    // KubeEdge's API, anonymous both ways
    const hw = '$hw/events/device/default/valve-1/twin/update';
    const other = await connect();
    const seen = await receivedUntil(other, hw, () => app.publishAsync(hw, '{"twin":{}}', { qos: 1 }), hw);
    expect(seen).toHaveLength(1);
  });

  it('keeps the report channel (issue 15) between the mappers and the twin: a forged batch never reaches the twin', async () => {
    const { connect, service } = await world();
    const twin = await service();
    const mapper = await service();
    const batches = reportsTopic('n1', 'modbus');
    const app = await connect();
    const got = await receivedUntil(
      twin,
      batches,
      async () => {
        await app.publishAsync(batches, '[1,1,0,["default/valve-1","open","true"]]', { qos: 1 });
        await mapper.publishAsync(batches, '[1,2,0,["default/valve-1","open","false"]]', { qos: 1 });
      },
      batches,
    );
    expect(got.map((m) => m.payload)).toEqual(['[1,2,0,["default/valve-1","open","false"]]']);
    // nor can an app read what the twin refused
    await expect(app.subscribeAsync(reportAnswerTopic('n1', 'modbus'), { qos: 1 })).rejects.toThrow();
  });

  it('refuses the service user with a wrong password', async () => {
    const { connect } = await world();
    await expect(connect({ username: EDGE_SERVICE_USER, password: 'guess' })).rejects.toThrow(
      /Bad username or password/i,
    );
  });
});
