import { createServer, type Server } from 'node:http';
import { type AddressInfo, createServer as createTcpServer } from 'node:net';
import {
  decodeMapperReports,
  decodeWriteStatus,
  deltaRequestTopic,
  deviceTopic,
  reportsTopic,
  type WriteStatus,
  writeStatusTopic,
} from '@edgetwin/api';
import { connectBus } from '@edgetwin/eventbus/client';
import { armNextMessage, collectMessages, startTestBroker, waitUntil } from '@edgetwin/eventbus/testing';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { modbusDevice, withModbusEndpoint } from '@edgetwin/simulators';
import { gpioDriverFactory, simulatedChip } from '../src/drivers/gpio/index.js';
import { modbusDriverFactory } from '../src/drivers/modbus/index.js';
import { removeVirtualDevice, virtualDevice, virtualDriverFactory } from '../src/drivers/virtual/index.js';
import { uniqueName } from './fixtures.js';
import { device, NODE, prop, type Rig, startRig, type TwinUpdate } from './runtime-helpers.js';
import { armNextReport, armNextState, collectReports, collectStates } from '../src/conformance/report-collector.js';

const V = 'virtualProtocol';
let rig: Rig | undefined;
const ids: string[] = [];
afterEach(async () => {
  await rig?.close();
  rig = undefined;
  for (const id of ids.splice(0)) removeVirtualDevice(id);
});

function track<T extends { id: string }>(d: T): T {
  ids.push(d.id);
  return d;
}
const states = (msgs: { json(): unknown }[]) => msgs.map((m) => (m.json() as { state: string }).state);
const writeStatuses = (msgs: { payload: Buffer }[]): WriteStatus[] =>
  msgs.map((m) => {
    const d = decodeWriteStatus(m.payload);
    if (!d.ok) throw new Error(d.error);
    return d.value;
  });

describe('reports', () => {
  it('batches the properties of one cycle into one report entry and does not repeat unchanged values', async () => {
    rig = await startRig(virtualDriverFactory);
    const d = track(
      device(V, [prop('a', { visitor: { name: 'a', initial: 1 } }), prop('b', { visitor: { name: 'b', initial: 2 } })]),
    );
    const updates = await collectReports(rig.app, d.id);
    await rig.publish(d);
    const [first] = await updates.waitFor(1);
    expect((first!.json() as TwinUpdate).twin).toEqual({
      a: { actual: { value: '1' } },
      b: { actual: { value: '2' } },
    });
    // ten more read cycles of unchanged values: no report (KubeEdge would send ten)
    await waitUntil(
      async () => (await rig!.mapper.metrics.reads.get()).values.some((v) => v.value >= 11),
      'eleven reads',
    );
    expect(updates.messages).toHaveLength(1);
    virtualDevice(d.id).set('b', 5);
    const all = await updates.waitFor(2);
    expect((all[1]!.json() as TwinUpdate).twin).toEqual({
      b: expect.objectContaining({ actual: expect.objectContaining({ value: '5' }) }),
    });
  });

  it('report mode cycle: a steady value is reported at every reading; a changed scale or reading applies at once', async () => {
    rig = await startRig(virtualDriverFactory);
    const a = prop('a', { visitor: { name: 'a', initial: 4 }, report: { mode: 'cycle' } });
    const d = track(device(V, [a]));
    const updates = await collectReports(rig.app, d.id);
    await rig.publish(d);
    const value = (m: { json(): unknown }) => (m.json() as TwinUpdate).twin.a?.actual.value;
    const steady = await updates.waitFor(4);
    expect(steady.map(value)).toEqual(['4', '4', '4', '4']);
    // the device still holds raw 4: the new transform must not be skipped as "the same raw value"
    await rig.publish({ ...d, version: '2/1', properties: [{ ...a, visitor: { ...a.visitor, scale: 2 } }] });
    await updates.waitFor((m) => value(m) === '8');
    // a steady device's entry is reused: a changed reading must still make a new one
    virtualDevice(d.id).set('a', 5);
    await updates.waitFor((m) => value(m) === '10');
  });

  it('publishes a report batch at QoS 0 only when every reading in it is in report mode cycle', async () => {
    rig = await startRig(virtualDriverFactory);
    const periodic = track(device(V, [prop('a', { report: { mode: 'cycle' } })]));
    const onChange = track(device(V, [prop('a')]));
    const qosOf = new Map<string, number>();
    await rig.app.subscribe(reportsTopic(NODE, V), (_topic, payload, packet) => {
      const d = decodeMapperReports(payload);
      if (!d.ok) throw new Error(d.error);
      // a batch that also carries a state change is QoS 1 for it: the periodic device's readings alone
      const alone = d.value.states.length === 0;
      for (const e of d.value.entries)
        if (!qosOf.has(e[0]!) && (alone || e[0] !== periodic.id)) qosOf.set(e[0]!, packet.qos);
    });
    await rig.publish(periodic);
    await waitUntil(() => qosOf.has(periodic.id), 'a report of the periodic device');
    await rig.publish(onChange);
    await waitUntil(() => qosOf.has(onChange.id), 'a report of the on-change device');
    expect([qosOf.get(periodic.id), qosOf.get(onChange.id)]).toEqual([0, 1]);
  });

  it('reports device state on its report channel, not on $hw state/update: a change at QoS 1, a repeat at QoS 0', async () => {
    rig = await startRig(virtualDriverFactory);
    const d = track(device(V, [prop('a')], { stateReport: { reportToCloud: true, reportCycleMs: 100 } }));
    const hw = await collectMessages(rig.app, deviceTopic(d.id, 'state/update'));
    // [state, QoS of its batch, whether the batch carried nothing but states]
    const seen: Array<[string, number, boolean]> = [];
    await rig.app.subscribe(reportsTopic(NODE, V), (_topic, payload, packet) => {
      const b = decodeMapperReports(payload);
      if (!b.ok) throw new Error(b.error);
      for (const st of b.value.states)
        if (st.device === d.id) seen.push([st.state, packet.qos, b.value.entries.length === 0]);
    });
    await rig.publish(d);
    const isRepeat = (i: number) => i > 0 && seen[i]![0] === seen[i - 1]![0];
    const repeatsAlone = () => seen.filter(([, , alone], i) => alone && isRepeat(i)).length;
    await waitUntil(() => repeatsAlone() >= 2, 'the change to online and two periodic reports of it');
    // each change (the first report is one) at QoS 1; a batch of nothing but repeats of the same state at QoS 0
    seen.forEach(([state, qos, alone], i) => {
      if (!isRepeat(i)) expect(qos, `the change to ${state}`).toBe(1);
      else if (alone) expect(qos, `a repeat of ${state}`).toBe(0);
    });
    expect(seen.at(-1)![0]).toBe('online');
    // one route per datum: nothing of it on KubeEdge's state/update (third-party mappers' route)
    expect(hw.messages).toEqual([]);
  });

  it('does not report properties with reportToCloud false', async () => {
    rig = await startRig(virtualDriverFactory);
    const d = track(device(V, [prop('a'), prop('hidden', { reportToCloud: false })]));
    const { message: first } = await armNextReport(rig.app, d.id);
    await rig.publish(d);
    expect(Object.keys(((await first).json() as TwinUpdate).twin)).toEqual(['a']);
  });
});

describe('device lifecycle', () => {
  it('applies a changed spec in place: no reconnect, the new property is read', async () => {
    rig = await startRig(virtualDriverFactory);
    const d = track(device(V, [prop('a', { visitor: { name: 'a', initial: 1 } })]));
    const updates = await collectReports(rig.app, d.id);
    await rig.publish(d);
    await updates.waitFor(1);
    await rig.publish({
      ...d,
      version: '2/1',
      properties: [...d.properties, prop('c', { visitor: { name: 'c', initial: 9 } })],
    });
    await updates.waitFor((m) => 'c' in (m.json() as TwinUpdate).twin);
    const connects = await rig.mapper.metrics.connects.get();
    expect(connects.values.filter((v) => v.labels.result === 'ok').map((v) => v.value)).toEqual([1]);
  });

  it('reconnects a device whose protocol config changed, cleanly (its pins are free again)', async () => {
    rig = await startRig(gpioDriverFactory);
    const chip = simulatedChip(uniqueName('gpiochip'));
    const d = device('gpio', [prop('led', { type: 'BOOLEAN', visitor: { pin: 4 } })], {
      protocolConfig: { backend: 'simulated', chip: chip.name },
    });
    const states = await collectStates(rig.app, d.id);
    await rig.publish(d);
    await states.waitFor(1);
    await rig.publish({ ...d, protocolConfig: { ...d.protocolConfig, note: 'rewired' } });
    await waitUntil(
      async () =>
        (await rig!.mapper.metrics.connects.get()).values.some((v) => v.labels.result === 'ok' && v.value === 2),
      'a second connect',
    );
    const failed = (await rig.mapper.metrics.connects.get()).values.filter((v) => v.labels.result === 'error');
    expect(failed).toEqual([]);
  });

  it('stops serving a removed device', async () => {
    rig = await startRig(virtualDriverFactory);
    const d = track(device(V, [prop('a')]));
    const { message: up } = await armNextReport(rig.app, d.id);
    await rig.publish(d);
    await up;
    await rig.remove(d.id);
    await waitUntil(() => rig!.mapper.runtime.devices().length === 0, 'the device to be removed');
  });

  it('refuses a bad spec with an unhealthy state and keeps serving the other devices', async () => {
    rig = await startRig(virtualDriverFactory);
    const good = track(device(V, [prop('a')]));
    const bad = track(device(V, [prop('a', { visitor: { name: 'a', generator: 'fractal' } })]));
    const { message: badState } = await armNextState(rig.app, bad.id);
    const s = await collectReports(rig.app, good.id);
    await rig.publish(bad);
    await rig.publish(good);
    expect((await badState).json()).toMatchObject({ state: 'unhealthy' });
    await s.waitFor(1);
    expect(rig.mapper.runtime.devices()).toEqual([good.id]);
    // a bad update of a working device leaves the working spec running
    await rig.publish({ ...good, properties: [prop('a', { collectCycleMs: -1 })] });
    virtualDevice(good.id).set('a', 3);
    await s.waitFor((m) => (m.json() as TwinUpdate).twin.a?.actual.value === '3');
  });

  // The slow device takes longer than the test to connect (an abortable wait, so closing the rig ends it):
  // the fast device reporting at all shows it did not queue behind it. No time bound to flake under load.
  it('one slow device does not delay another', async () => {
    rig = await startRig(virtualDriverFactory);
    const slow = track(device(V, [prop('a')], { protocolConfig: { latencyMs: 600_000 } }));
    const fast = track(device(V, [prop('a')]));
    await rig.publish(slow);
    const { message: up } = await armNextReport(rig.app, fast.id, { timeoutMs: 15_000 });
    await rig.publish(fast);
    await up;
    expect(rig.mapper.runtime.worker(slow.id)?.latestReading('a')).toBeUndefined();
  });

  it('reports a device that does not answer in time offline, with a log line naming the timeout', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'info' }, { write: (l: string) => lines.push(JSON.parse(l)) });
    rig = await startRig(virtualDriverFactory, { logger, worker: { callTimeoutMs: 100, connectBackoffMs: 1000 } });
    const d = track(device(V, [prop('a')], { protocolConfig: { latencyMs: 2000 } }));
    const { message: offline } = await armNextState(rig.app, d.id);
    await rig.publish(d);
    expect((await offline).json()).toMatchObject({ state: 'offline' });
    expect(lines).toContainEqual(
      expect.objectContaining({
        device: d.id,
        msg: 'device connect failed',
        err: `device ${d.id}: connect timed out after 100 ms`,
      }),
    );
  });

  it('reports an unreachable device offline, reconnects with backoff, and reports it online again', async () => {
    rig = await startRig(virtualDriverFactory);
    const d = track(device(V, [prop('a')]));
    const other = track(device(V, [prop('a')]));
    const st = await collectStates(rig.app, d.id);
    await rig.publish(d);
    await rig.publish(other);
    await st.waitFor((m) => (m.json() as { state: string }).state === 'online');
    virtualDevice(d.id).reachable = false;
    await st.waitFor((m) => (m.json() as { state: string }).state === 'offline');
    const otherUp = await collectReports(rig.app, other.id);
    virtualDevice(other.id).set('a', 42);
    await otherUp.waitFor(1);
    virtualDevice(d.id).reachable = true;
    await st.waitFor(() => states(st.messages).lastIndexOf('online') > states(st.messages).indexOf('offline'));
    const ok = (await rig.mapper.metrics.connects.get()).values.find(
      (v) => v.labels.device === d.id && v.labels.result === 'ok',
    );
    expect(ok?.value).toBe(2);
  });
  it('backs off from a gateway that accepts and at once hangs up, instead of reconnecting in a tight loop', async () => {
    // A Modbus gateway whose slave is gone often behaves so: every TCP connect succeeds, every request
    // finds the socket closed. Each success must not reset the backoff (it did: ~20 connects a second).
    const accepted: number[] = [];
    const gateway = createTcpServer((sock) => {
      accepted.push(Date.now());
      sock.destroy();
    });
    await new Promise<void>((r) => gateway.listen(0, '127.0.0.1', r));
    const nthConnect = (n: number) => waitUntil(() => accepted.length >= n, `${n} connects to the gateway`, 20_000);
    try {
      rig = await startRig(modbusDriverFactory, {
        worker: { connectBackoffMs: 200, maxConnectBackoffMs: 5_000, callTimeoutMs: 1_000 },
      });
      const d = withModbusEndpoint(
        modbusDevice(uniqueName('gw'), { slaveID: 1, timeout: 300 }, [
          { name: 'level', type: 'INT', visitor: { register: 'HoldingRegister', offset: 0, type: 'int16' } },
        ]),
        { port: (gateway.address() as AddressInfo).port },
      );
      await rig.publish(d);
      await nthConnect(4);
      const gaps = accepted.slice(1).map((t, i) => t - (accepted[i] as number));
      // 200, 400, then 800 ms of backoff at least between the drops (a loaded machine only adds to them)
      expect(gaps[1]).toBeGreaterThanOrEqual(350);
      expect(gaps[2]).toBeGreaterThanOrEqual(700);
    } finally {
      await new Promise<void>((r) => gateway.close(() => r()));
    }
  });
});

describe('writes', () => {
  /** a virtual device with a 0..100 setpoint, served and online, and its write statuses collected */
  async function onlineSetpointDevice() {
    const r = await startRig(virtualDriverFactory);
    rig = r;
    const d = track(device(V, [prop('setpoint', { minimum: 0, maximum: 100 })]));
    const ws = await collectMessages(r.app, writeStatusTopic(d.id));
    const { message: online } = await armNextState(r.app, d.id);
    await r.publish(d);
    await online;
    return { r, d, ws };
  }

  it('reports pending, written, verified against the desired value; the device holds it', async () => {
    const { r, d, ws } = await onlineSetpointDevice();
    await r.delta(d.id, { setpoint: '55' });
    await ws.waitFor((m) => decodeWriteStatus(m.payload).ok && (m.json() as WriteStatus).state === 'verified');
    expect(writeStatuses(ws.messages).map((s) => [s.desired, s.state])).toEqual([
      ['55', 'pending'],
      ['55', 'written'],
      ['55', 'verified'],
    ]);
    expect(virtualDevice(d.id).read('setpoint')).toBe(55);
  });

  it('a desired value that arrives while the previous one is being written is written next, not left pending', async () => {
    const { r, d, ws } = await onlineSetpointDevice();
    virtualDevice(d.id).latencyMs = 1000; // the write of 55 is still in flight when 66 arrives
    await r.delta(d.id, { setpoint: '55' });
    await ws.waitFor((m) => (m.json() as WriteStatus).desired === '55');
    await r.delta(d.id, { setpoint: '66' });
    await ws.waitFor(
      (m) => (m.json() as WriteStatus).desired === '66' && (m.json() as WriteStatus).state === 'verified',
    );
    expect(virtualDevice(d.id).read('setpoint')).toBe(66);
  });

  it('refuses out-of-range, wrong-type and non-string desired values, and unknown properties, with the reason', async () => {
    rig = await startRig(virtualDriverFactory);
    const d = track(device(V, [prop('setpoint', { minimum: 0, maximum: 100 })]));
    const ws = await collectMessages(rig.app, writeStatusTopic(d.id));
    await rig.publish(d);
    await rig.delta(d.id, { setpoint: '150' });
    await rig.delta(d.id, { setpoint: 'warm' });
    await rig.delta(d.id, { setpoint: 7 });
    await rig.delta(d.id, { nosuch: '1' });
    await ws.waitFor(4);
    expect(writeStatuses(ws.messages).map((s) => [s.property, s.state, s.reason])).toEqual([
      ['setpoint', 'failed', 'property setpoint: 150 is above the maximum 100'],
      ['setpoint', 'failed', 'property setpoint: "warm" is not an integer'],
      ['setpoint', 'failed', 'desired value of setpoint must be a string, got number'],
      ['nosuch', 'failed', `device ${d.id} has no property nosuch`],
    ]);
  });

  it("asks the twin for the device's delta when it starts serving it, and writes that, not the spec's desired value", async () => {
    rig = await startRig(virtualDriverFactory);
    const d = track(device(V, [prop('setpoint', { desired: { value: '10' } })]));
    // play the twin: it holds an edge-local desired value newer than the spec's (cloud's) 10
    const asked = await collectMessages(rig.app, deltaRequestTopic(d.id));
    await rig.app.subscribe(deltaRequestTopic(d.id), () => void rig!.delta(d.id, { setpoint: '33' }));
    const ws = await collectMessages(rig.app, writeStatusTopic(d.id));
    await rig.publish(d);
    await ws.waitFor(
      (m) => (m.json() as WriteStatus).state === 'verified' && (m.json() as WriteStatus).desired === '33',
    );
    expect(asked.messages).toHaveLength(1);
    expect(virtualDevice(d.id).read('setpoint')).toBe(33);
    expect(writeStatuses(ws.messages).map((s) => s.desired)).not.toContain('10');
  });

  it('re-applies a verified value when the device drifts', async () => {
    rig = await startRig(virtualDriverFactory);
    const d = track(device(V, [prop('setpoint')]));
    const ws = await collectMessages(rig.app, writeStatusTopic(d.id));
    await rig.publish(d);
    await rig.delta(d.id, { setpoint: '30' });
    await ws.waitFor((m) => (m.json() as WriteStatus).state === 'verified');
    virtualDevice(d.id).set('setpoint', 31); // someone turned the knob
    await ws.waitFor(() => writeStatuses(ws.messages).filter((s) => s.state === 'verified').length === 2);
    expect(writeStatuses(ws.messages).some((s) => s.reason === 'device drifted to 31; re-applying 30')).toBe(true);
    expect(virtualDevice(d.id).read('setpoint')).toBe(30);
  });

  it('retries with backoff while the device disagrees, then fails saying what the device holds', async () => {
    rig = await startRig(gpioDriverFactory);
    const chip = simulatedChip(uniqueName('gpiochip'));
    // a relay stuck open: whatever the mapper writes, the pin falls back low
    chip.on('change', (c) => {
      if (c.pin === 5 && c.level === 1) chip.drive(5, 0);
    });
    const d = device('gpio', [prop('relay', { type: 'BOOLEAN', visitor: { pin: 5, direction: 'out' } })], {
      protocolConfig: { backend: 'simulated', chip: chip.name },
    });
    const { message: failed } = await armNextMessage(rig.app, writeStatusTopic(d.id), {
      predicate: (m) => (m.json() as WriteStatus).state === 'failed',
    });
    const ws = await collectMessages(rig.app, writeStatusTopic(d.id));
    await rig.publish(d);
    await rig.delta(d.id, { relay: 'true' });
    expect((await failed).json()).toMatchObject({
      property: 'relay',
      desired: 'true',
      attempts: 3,
      reason: 'device holds false, not true (gave up after 3 attempts)',
    });
    expect(writeStatuses(ws.messages).some((s) => /retry 2 of 3 in \d+ ms/.test(s.reason ?? ''))).toBe(true);
  });

  it('GPIO LED: ON/OFF desired values drive an active-low pin', async () => {
    rig = await startRig(gpioDriverFactory);
    const chip = simulatedChip(uniqueName('gpiochip'));
    const d = device(
      'gpio',
      [prop('power-status', { type: 'STRING', visitor: { pin: 18, activeLow: true, onValue: 'ON', offValue: 'OFF' } })],
      { protocolConfig: { backend: 'simulated', chip: chip.name } },
    );
    const { message: verified } = await armNextMessage(rig.app, writeStatusTopic(d.id), {
      predicate: (m) => (m.json() as WriteStatus).state === 'verified',
    });
    const { message: online } = await armNextState(rig.app, d.id);
    await rig.publish(d);
    await online;
    expect(chip.level(18)).toBe(1); // off, active low: the line starts high
    await rig.delta(d.id, { 'power-status': 'ON' });
    await verified;
    expect(chip.level(18)).toBe(0);
  });

  it('GPIO button: an edge is reported at once, not at the next read cycle', async () => {
    rig = await startRig(gpioDriverFactory);
    const chip = simulatedChip(uniqueName('gpiochip'));
    const d = device(
      'gpio',
      [
        prop('button', {
          type: 'BOOLEAN',
          accessMode: 'ReadOnly',
          collectCycleMs: 600_000,
          visitor: { pin: 17, direction: 'in', activeLow: true, edge: 'both' },
        }),
      ],
      { protocolConfig: { backend: 'simulated', chip: chip.name } },
    );
    chip.drive(17, 1); // released (pull-up)
    const updates = await collectReports(rig.app, d.id);
    await rig.publish(d);
    await updates.waitFor(1);
    chip.drive(17, 0); // pressed
    // the read cycle is 10 minutes: the edge arriving at all shows it came at once
    const all = await updates.waitFor(2, 10_000);
    expect((all[1]!.json() as TwinUpdate).twin.button?.actual.value).toBe('true');
  });
});

describe('push and metrics', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = undefined;
  });

  it('pushes readings over MQTT and HTTP with the documented JSON body', async () => {
    const bodies: unknown[] = [];
    let gotPost: () => void = () => {};
    const posted = new Promise<void>((r) => {
      gotPost = r;
    });
    server = createServer((req, res) => {
      let b = '';
      req.on('data', (c) => (b += c));
      req.on('end', () => {
        bodies.push({ method: req.method, url: req.url, body: JSON.parse(b) });
        res.end('ok');
        gotPost();
      });
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    rig = await startRig(virtualDriverFactory);
    const d = track(
      device(V, [
        prop('a', {
          visitor: { name: 'a', initial: 4 },
          pushMethod: {
            mqtt: { topic: 'plant/a', qos: 1 },
            http: { hostName: 'http://127.0.0.1', port, requestPath: '/ingest' },
          },
        }),
      ]),
    );
    const { message: viaMqtt } = await armNextMessage(rig.app, 'plant/a');
    await rig.publish(d);
    const body = {
      deviceId: d.id,
      namespace: 'default',
      name: d.name,
      property: 'a',
      value: '4',
      type: 'int',
      timestamp: expect.any(Number),
    };
    expect((await viaMqtt).json()).toEqual(body);
    await posted;
    expect(bodies[0]).toEqual({ method: 'POST', url: '/ingest', body });
  });

  it('pushes to another broker over one persistent connection (KubeEdge tcp:// address)', async () => {
    const other = await startTestBroker();
    const listener = await connectBus({ url: other.url, clientId: uniqueName('listener') });
    try {
      rig = await startRig(virtualDriverFactory);
      const address = other.url.replace('mqtt://', 'tcp://');
      const pushed = (name: string) =>
        prop(name, { visitor: { name, initial: 1 }, pushMethod: { mqtt: { address, topic: `plant/${name}` } } });
      const a = track(device(V, [pushed('x'), pushed('y')]));
      const b = track(device(V, [pushed('z')]));
      const got = await collectMessages(listener, 'plant/+');
      await rig.publish(a);
      await rig.publish(b);
      await got.waitFor(() => new Set(got.messages.map((x) => x.topic)).size === 3);
      expect(other.connectedClients).toBe(2); // the listener and one push connection for all three properties
    } finally {
      await rig?.close();
      rig = undefined;
      await listener.close();
      await other.close();
    }
  });

  it('serves Prometheus metrics per device', async () => {
    rig = await startRig(virtualDriverFactory, { metricsPort: 0 });
    const d = track(device(V, [prop('a')]));
    const { message: up } = await armNextReport(rig.app, d.id);
    await rig.publish(d);
    await up;
    const text = await (await fetch(rig.mapper.metricsUrl!)).text();
    expect(text).toContain(`edgetwin_mapper_reads_total{device="${d.id}"}`);
    expect(text).toContain(`edgetwin_mapper_last_success_timestamp_seconds{device="${d.id}"}`);
    expect(text).toContain('edgetwin_mapper_read_duration_seconds_bucket');
  });
});
