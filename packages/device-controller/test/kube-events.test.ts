// Kubernetes Events of device events (issue 16 §3), against the fake API server: the Event's fields as
// `kubectl describe device` reads them, a repeat counted up on the same Event, the spam filter per device
// with its metric, and an API server that refuses Events never failing the caller. The real API server
// shows them too: kube-controller.test.ts.

import type { Device } from '@edgetwin/api';
import { KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import { Counter, Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ControllerEvent, NewEvent } from '../src/live/event-log.js';
import { EventLog } from '../src/live/event-log.js';
import { KubernetesSource } from '../src/sources/kubernetes/source.js';
import type { KubeEventRecorder } from '../src/sources/kubernetes/event-recorder.js';
import { FakeApiServer } from './fake-apiserver.js';
import { device, model, waitFor, waitForAsync } from './support.js';

type Obj = Parameters<FakeApiServer['put']>[1];
type KubeEvent = Obj & {
  involvedObject: Record<string, string>;
  reason: string;
  message: string;
  type: string;
  count: number;
  reportingComponent: string;
};

describe('Kubernetes Events of device events', () => {
  let api: FakeApiServer;
  let source: KubernetesSource;
  let recorder: KubeEventRecorder;
  let log: EventLog;
  let counter: Counter<'result'>;
  let debugLines: string[];

  const start = async (opts: { burst?: number; apiUrl?: string } = {}) => {
    const kc = new KubeConfig();
    const o = api.kubeconfig();
    if (opts.apiUrl) o.clusters[0]!.server = opts.apiUrl;
    kc.loadFromOptions(o);
    source = new KubernetesSource({ kubeConfig: kc, retryMs: 20, startTimeoutMs: 0 });
    if (!opts.apiUrl) await source.start();
    counter = new Counter({ name: 'k', help: 'k', labelNames: ['result'], registers: [new Registry()] });
    debugLines = [];
    const logger = pino({ level: 'debug' }, { write: (l: string) => debugLines.push(l) });
    recorder = source.eventRecorder({ logger, counter, ...(opts.burst ? { burst: opts.burst } : {}) });
    log = new EventLog();
    log.onEvent((e: ControllerEvent) => recorder.record(e));
  };
  const results = async () =>
    Object.fromEntries((await counter.get()).values.map((v) => [v.labels.result, v.value])) as Record<string, number>;
  const kubeEvents = () => [...api.events.values()] as KubeEvent[];
  const writeFailed = (name: string, message = 'power=BLINK: not ON or OFF'): NewEvent => ({
    type: 'Warning',
    reason: 'WriteFailed',
    message,
    object: { kind: 'Device', namespace: 'default', name },
  });

  beforeEach(async () => {
    api = new FakeApiServer();
    await api.start();
    api.put('devicemodels', model('thermo') as unknown as Obj);
    api.put('devices', device('a', 'n1', 'thermo') as unknown as Obj);
    api.put('devices', device('b', 'n1', 'thermo') as unknown as Obj);
  });
  afterEach(async () => {
    recorder?.stop();
    await source?.stop();
    await api.stop();
  });

  it('writes a core/v1 Event regarding the Device, and counts a repeat up on the same Event', async () => {
    await start();
    log.add(writeFailed('a'));
    const uid = (source.device('default', 'a') as Device).metadata.uid;
    const [ev] = await waitFor(() => (kubeEvents().length === 1 ? kubeEvents() : undefined), 'one Event');
    expect(ev!.involvedObject).toEqual({
      apiVersion: 'devices.kubeedge.io/v1beta1',
      kind: 'Device',
      name: 'a',
      namespace: 'default',
      uid,
    });
    expect(ev).toMatchObject({
      reason: 'WriteFailed',
      type: 'Warning',
      count: 1,
      reportingComponent: 'edgetwin-controller',
    });
    expect(ev!.message).toBe('power=BLINK: not ON or OFF');
    expect(ev!.metadata.name).toMatch(/^a\./);

    log.add(writeFailed('a'));
    log.add(writeFailed('a'));
    await waitFor(() => kubeEvents()[0]?.count === 3 || undefined, 'the repeat counted up to 3');
    expect(kubeEvents()).toHaveLength(1);
    expect(api.requests.filter((r) => r.method === 'PATCH' && r.path.includes('/events/'))[0]?.contentType).toBe(
      'application/merge-patch+json',
    );
    // another message is another Event; node events have no Kubernetes object to regard
    log.add(writeFailed('a', 'power=2: not ON or OFF'));
    log.add({ type: 'Warning', reason: 'NodeOffline', message: 'gone', object: { kind: 'Node', name: 'n1' } });
    await waitFor(() => kubeEvents().length === 2 || undefined, 'a second Event');
    expect(
      await waitForAsync(async () => {
        const r = await results();
        return r.created === 2 && r;
      }, 'both counted'),
    ).toEqual({ created: 2, patched: 2 });
  });

  it('drops what is over the spam filter of one device, with a metric, and leaves other devices alone', async () => {
    await start({ burst: 3 });
    for (let i = 0; i < 5; i++) log.add(writeFailed('a', `try ${i}`));
    log.add(writeFailed('b'));
    await waitFor(() => kubeEvents().length === 4 || undefined, 'three Events of a and one of b');
    const r = await waitForAsync(async () => {
      const now = await results();
      return now.created === 4 && now;
    }, 'created 4');
    expect(r).toEqual({ created: 4, 'dropped-rate': 2 });
    expect(
      kubeEvents()
        .filter((e) => e.involvedObject.name === 'a')
        .map((e) => e.message),
    ).toEqual(['try 0', 'try 1', 'try 2']);
  });

  it('never throws to its caller when the API server refuses Events: logged at debug and counted', async () => {
    await start();
    await api.stop(); // the informer's cache keeps the uid; every write now fails to connect
    log.add(writeFailed('a'));
    await waitFor(() => debugLines.find((l) => l.includes('Kubernetes Event not written')), 'a debug line');
    expect(JSON.parse(debugLines.find((l) => l.includes('Kubernetes Event not written'))!).level).toBe(20);
    expect(await results()).toEqual({ failed: 1 });
    expect(debugLines.filter((l) => JSON.parse(l).level > 20)).toEqual([]);
    await api.start(); // so afterEach stops a running server
  });
});
