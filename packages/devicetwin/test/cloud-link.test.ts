// The edge end of the cloud link with the real twin (SQLite in a temp dir) against a real aedes broker
// playing the cloud's, reached through a TCP proxy that can cut the link.

import type { Report } from '@edgetwin/api';
import { startTcpProxy, startTestBroker } from '@edgetwin/eventbus/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { type CloudLinkEdge, type CloudLinkEdgeOptions, startCloudLinkEdge } from '../src/cloud-link/index.js';
import { device, type EdgeSide, FakeCloud, model, NODE, startEdgeSide, until } from './cloud-link-support.js';

const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

async function world() {
  const cloudBroker = await startTestBroker();
  closers.push(() => cloudBroker.close());
  const proxy = await startTcpProxy(cloudBroker.port);
  closers.push(() => proxy.close());
  const cloud = await FakeCloud.connect(cloudBroker.url);
  closers.push(() => cloud.close());
  const edge = await startEdgeSide();
  closers.push(() => edge.close());
  return { cloudBroker, proxy, cloud, edge };
}

function link(edge: EdgeSide, url: string, opts: Partial<CloudLinkEdgeOptions> = {}): CloudLinkEdge {
  const l = startCloudLinkEdge({
    twin: edge.twin,
    cloudUrl: url,
    backoffMs: 50,
    maxBackoffMs: 200,
    registry: edge.twin.metrics,
    ...opts,
  });
  closers.push(() => l.close());
  return l;
}

function synced(l: CloudLinkEdge, generation: number, timeoutMs = 5000): Promise<void> {
  return until(
    (wake) => l.onSynced(wake),
    () => l.syncedGeneration === generation,
    `the edge to reconcile with index generation ${generation} (at ${l.syncedGeneration})`,
    timeoutMs,
  );
}

function connected(l: CloudLinkEdge): Promise<void> {
  return until(
    (w) => l.onConnectionChange(w),
    () => l.connected,
    'the link to connect',
  );
}

function batchCount(cloud: FakeCloud, n: number, what: string): Promise<void> {
  return until(
    (w) => cloud.onReport(w),
    () => cloud.batches.length >= n,
    what,
  );
}

function reportsUpTo(cloud: FakeCloud, seq: number): Promise<void> {
  return until(
    (wake) => cloud.onReport(wake),
    () => (cloud.reports.at(-1)?.seq ?? 0) >= seq,
    `reports up to seq ${seq} at the cloud`,
  );
}

function report(value: string): Report {
  return {
    kind: 'twin',
    deviceId: 'default/t1',
    twins: [{ property: 'temp', reported: { value, timestamp: Date.now(), type: 'int' } }],
  };
}

const held = (edge: EdgeSide) =>
  edge.twin
    .listDevices()
    .map((d) => d.id)
    .sort();
const desiredOf = (edge: EdgeSide, id: string) => edge.twin.getTwin(id)?.twins.temp?.expected?.value;

describe('cloud link, edge end: desired state', () => {
  it('applies the devices and models the cloud holds for the node', async () => {
    const { proxy, cloud, edge } = await world();
    await cloud.putModel(model('thermo'));
    await cloud.putDevice(device('t1', { desired: '21' }));
    await cloud.putDevice(device('t2'));
    const gen = await cloud.publishIndex();

    const l = link(edge, proxy.url);
    await synced(l, gen);
    expect(held(edge)).toEqual(['default/t1', 'default/t2']);
    expect(desiredOf(edge, 'default/t1')).toBe('21');
  });

  it('holds back a device whose model has not arrived yet, and applies it when the model comes', async () => {
    const { proxy, cloud, edge } = await world();
    const l = link(edge, proxy.url);
    await connected(l);
    await cloud.putDevice(device('t1'));
    await cloud.putModel(model('thermo'));
    const gen = await cloud.publishIndex();
    await synced(l, gen);
    expect(held(edge)).toEqual(['default/t1']);
  });

  it('applies changes, additions and deletions made while the edge was offline, without any history', async () => {
    const { proxy, cloud, edge } = await world();
    await cloud.putModel(model('thermo'));
    await cloud.putModel(model('old-model'));
    await cloud.putDevice(device('t1'));
    await cloud.putDevice(device('t2'));
    await cloud.putDevice(device('legacy', { model: 'old-model' }));
    const l = link(edge, proxy.url);
    await synced(l, await cloud.publishIndex());
    expect(held(edge)).toEqual(['default/legacy', 'default/t1', 'default/t2']);

    proxy.cut();
    await until(
      (w) => l.onConnectionChange(w),
      () => !l.connected,
      'the link to drop',
    );
    await cloud.putDevice(device('t1', { rv: '2', desired: '25' }));
    await cloud.deleteDevice('default/t2');
    await cloud.deleteDevice('default/legacy');
    await cloud.deleteModel('default/old-model');
    await cloud.putDevice(device('t3'));
    const gen = await cloud.publishIndex();
    expect(held(edge)).toEqual(['default/legacy', 'default/t1', 'default/t2']);

    proxy.restore();
    await synced(l, gen);
    expect(held(edge)).toEqual(['default/t1', 'default/t3']);
    const metrics = await edge.twin.metrics.metrics();
    expect(metrics).toMatch(/edgetwin_cloudlink_reconciles_total [2-9]/);
    expect(metrics).toMatch(/edgetwin_cloudlink_connected 1/);
    expect(desiredOf(edge, 'default/t1')).toBe('25');
    expect(Object.keys(edge.twin.desiredIndex().models)).toEqual(['default/thermo']);
  });

  it('a re-asserted desired value (same value, new desired.metadata.timestamp) overrides an edge-local one; a resync does not', async () => {
    const { proxy, cloud, edge } = await world();
    const stamped = (rv: string, timestamp: string) => {
      const d = device('t1', { rv, desired: '21' });
      d.spec.properties![0]!.desired!.metadata = { timestamp };
      return d;
    };
    await cloud.putModel(model('thermo'));
    await cloud.putDevice(stamped('1', '1000'));
    const l = link(edge, proxy.url);
    await synced(l, await cloud.publishIndex());
    await edge.twin.setDesiredLocally('default/t1', 'temp', '18');
    expect(desiredOf(edge, 'default/t1')).toBe('18');

    // the link drops and comes back: the retained copy arrives again, no new command
    proxy.cut();
    await until(
      (w) => l.onConnectionChange(w),
      () => !l.connected,
      'the link to drop',
    );
    proxy.restore();
    await synced(l, await cloud.publishIndex());
    expect(desiredOf(edge, 'default/t1')).toBe('18');

    // `twin set t1 temp=21` again: the controller stamps it, so the spec (and resourceVersion) changes
    await cloud.putDevice(stamped('2', '2000'));
    await synced(l, await cloud.publishIndex());
    expect(edge.twin.getTwin('default/t1')?.twins.temp?.expected).toMatchObject({ value: '21', source: 'cloud' });
  });

  it('resyncs in full from retained messages when the cloud broker lost the session (restarted, in memory)', async () => {
    const { cloudBroker, proxy, cloud, edge } = await world();
    await cloud.putModel(model('thermo'));
    await cloud.putDevice(device('t1'));
    await cloud.putDevice(device('t2'));
    const l = link(edge, proxy.url);
    await synced(l, await cloud.publishIndex());

    await cloud.close();
    await cloudBroker.close();
    const restarted = await startTestBroker({ port: cloudBroker.port });
    closers.push(() => restarted.close());
    // the cloud end republishes everything when its broker has no session for it
    const cloud2 = await FakeCloud.connect(restarted.url);
    closers.push(() => cloud2.close());
    cloud2.generation = cloud.generation;
    await cloud2.putModel(model('thermo'));
    await cloud2.putDevice(device('t1', { rv: '2', desired: '27' }));
    await cloud2.putDevice(device('t3'));
    const gen = await cloud2.publishIndex();

    await synced(l, gen, 8000);
    expect(held(edge)).toEqual(['default/t1', 'default/t3']);
    expect(desiredOf(edge, 'default/t1')).toBe('27');
  });

  it('removes what the node holds but the cloud no longer lists, even if the deletion message was never seen', async () => {
    const { proxy, cloud, edge } = await world();
    // the twin holds a device from an earlier life of the node (loaded locally, or deleted in the cloud
    // while this node was away and the broker forgot its session)
    await edge.twin.loadManifests([model('thermo'), device('stale')]);
    await cloud.putModel(model('thermo'));
    await cloud.putDevice(device('t1'));
    const gen = await cloud.publishIndex();
    const l = link(edge, proxy.url);
    await synced(l, gen);
    expect(held(edge)).toEqual(['default/t1']);
    expect(await edge.twin.metrics.metrics()).toMatch(/edgetwin_cloudlink_removed_by_reconcile_total 1/);
  });

  it('asks the broker again when an index lists a version that did not arrive (late, out-of-order message)', async () => {
    const { proxy, cloud, edge } = await world();
    await cloud.putModel(model('thermo'));
    await cloud.putDevice(device('t1', { rv: '2', desired: '30' }));
    const l = link(edge, proxy.url, { healAfterMs: 100 });
    await synced(l, await cloud.publishIndex());

    // a stale copy arrives live after the newer one (not retained: the broker keeps version 2)
    await cloud.client.publishAsync(
      'edgetwin/cloud/v1/nodes/edge-1/desired/devices/default/t1',
      JSON.stringify(device('t1', { rv: '1', desired: '10' })),
      { qos: 1 },
    );
    const gen = await cloud.publishIndex();
    await synced(l, gen);
    expect(edge.twin.listDevices()[0]?.resourceVersion).toBe('2');
    expect(desiredOf(edge, 'default/t1')).toBe('30');
  });
});

describe('cloud link, edge end: messages out of order', () => {
  it('never removes an object that arrived after the index being reconciled (stamped with a newer generation)', async () => {
    const { proxy, cloud, edge } = await world();
    await cloud.putModel(model('thermo'));
    await cloud.putDevice(device('t1'), 1);
    const l = link(edge, proxy.url);
    await synced(l, await cloud.publishIndex());

    // t2 is published with generation 3, then an index of generation 2 that predates it arrives late
    await cloud.putDevice(device('t2'), 3);
    const late = { ...cloud.index(), generation: 2, devices: { 'default/t1': '1' } };
    await cloud.sendIndex(late, false);
    await synced(l, 2);
    expect(held(edge)).toEqual(['default/t1', 'default/t2']);

    // the current index, then a stale one that must be ignored
    cloud.generation = 2;
    const gen = await cloud.publishIndex();
    await synced(l, gen);
    await cloud.sendIndex({ ...cloud.index(), generation: 1, devices: {} }, false);
    await cloud.putDevice(device('t3'), 4);
    cloud.generation = 3;
    await synced(l, await cloud.publishIndex());
    expect(held(edge)).toEqual(['default/t1', 'default/t2', 'default/t3']);
  });

  it('ignores a stale copy of an object older than the one applied', async () => {
    const { proxy, cloud, edge } = await world();
    await cloud.putModel(model('thermo'));
    await cloud.putDevice(device('t1', { rv: '5', desired: '50' }), 5);
    cloud.generation = 4;
    const l = link(edge, proxy.url);
    await synced(l, await cloud.publishIndex());
    await cloud.client.publishAsync(
      'edgetwin/cloud/v1/nodes/edge-1/desired/devices/default/t1',
      JSON.stringify({
        ...device('t1', { rv: '4', desired: '40' }),
        metadata: {
          name: 't1',
          namespace: 'default',
          resourceVersion: '4',
          annotations: { 'edgetwin.io/link-generation': '4' },
        },
      }),
      { qos: 1 },
    );
    // a marker after it: once the marker is applied, the stale copy has been handled
    await cloud.putDevice(device('marker'), 6);
    await synced(l, await cloud.publishIndex());
    expect(desiredOf(edge, 'default/t1')).toBe('50');
    expect(edge.twin.listDevices().find((d) => d.id === 'default/t1')?.resourceVersion).toBe('5');
  });
});

describe('cloud link, edge end: reports', () => {
  it('sends reports made while the link is down in order once it returns, and drops them when acknowledged', async () => {
    const { proxy, cloud, edge } = await world();
    const l = link(edge, proxy.url);
    await connected(l);
    for (const v of ['1', '2', '3']) edge.twin.outbox.append(report(v));
    await until(
      (w) => l.onReportsAcked(w),
      () => edge.twin.outbox.ackedSeq() === 3,
      'seq 3 to be acknowledged',
    );

    proxy.cut();
    await until(
      (w) => l.onConnectionChange(w),
      () => !l.connected,
      'the link to drop',
    );
    for (let i = 4; i <= 10; i++) edge.twin.outbox.append(report(String(i)));
    expect(edge.twin.outbox.pending(0, 100).map((e) => e.seq)).toEqual([4, 5, 6, 7, 8, 9, 10]);

    proxy.restore();
    await reportsUpTo(cloud, 10);
    expect(cloud.reports.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(cloud.reports.map((e) => (e.kind === 'twin' ? e.twins[0]?.reported?.value : ''))).toEqual([
      '1',
      '2',
      '3',
      '4',
      '5',
      '6',
      '7',
      '8',
      '9',
      '10',
    ]);
    await until(
      (w) => l.onReportsAcked(w),
      () => edge.twin.outbox.ackedSeq() === 10,
      'the outbox to be acknowledged',
    );
    expect(edge.twin.outbox.pending(0, 100)).toEqual([]);
  });

  it('sends again from the last ack when no ack comes', async () => {
    const { proxy, cloud, edge } = await world();
    cloud.ackReports = false;
    const seen: number[] = [];
    cloud.client.on('message', (_t, p) => {
      for (const e of JSON.parse(p.toString()).entries) seen.push(e.seq);
    });
    const l = link(edge, proxy.url, { ackTimeoutMs: 200 });
    await connected(l);
    edge.twin.outbox.append(report('1'));
    await until(
      (w) => cloud.onReport(w),
      () => seen.filter((s) => s === 1).length >= 2,
      'seq 1 to be sent twice',
    );
    expect(edge.twin.outbox.ackedSeq()).toBe(0);
  });

  it('sends again from the last ack when the cloud keeps answering without progress, even while it reports often (issue 9 §2)', async () => {
    // The cloud answers every batch with the same upTo (it refuses them: a gap). Each such ack used to
    // restart the edge's 10 s "no ack progress" timer, so an edge reporting more often than the timeout
    // never resent and the stream stayed stuck.
    const { proxy, cloud, edge } = await world();
    cloud.ackUpTo = 0;
    const l = link(edge, proxy.url, { ackTimeoutMs: 400 });
    await connected(l);
    let n = 0;
    const ticker = setInterval(() => edge.twin.outbox.append(report(String(++n))), 50);
    closers.push(() => clearInterval(ticker));
    await until(
      (w) => cloud.onReport(w),
      () => cloud.batches.filter((b) => b.entries.some((e) => e.seq === 1)).length >= 2,
      'seq 1 to be sent again while reports keep flowing',
      4000,
    );
    clearInterval(ticker);
  });

  it('resends at once from what the cloud holds when it refuses a batch of the current pass (issue 9 §2)', async () => {
    const { proxy, cloud, edge } = await world();
    cloud.ackReports = false;
    const l = link(edge, proxy.url, { ackTimeoutMs: 60_000 });
    await connected(l);
    edge.twin.outbox.append(report('1'));
    await batchCount(cloud, 1, 'the first batch');
    const first = cloud.batches[0]!;
    expect(first).toMatchObject({ epoch: edge.twin.outbox.epoch(), after: 0, ackedSeq: 0, pending: 0 });
    await cloud.ack({
      upTo: 0,
      epoch: first.epoch!,
      timestamp: Date.now(),
      refused: { reason: 'gap', pass: first.pass! },
    });
    await batchCount(cloud, 2, 'the batch sent again long before the ack timeout');
    expect(cloud.batches[1]).toMatchObject({ after: 0, pass: first.pass! + 1 });
    // a refusal of a pass that is over (a late or retained answer) changes nothing
    await cloud.ack({
      upTo: 0,
      epoch: first.epoch!,
      timestamp: Date.now(),
      refused: { reason: 'gap', pass: first.pass! },
    });
    edge.twin.outbox.append(report('2'));
    await batchCount(cloud, 3, 'the next batch');
    expect(cloud.batches[2]).toMatchObject({ after: 1, pass: first.pass! + 1 });
  });

  it('starts a new epoch when the cloud acknowledges seqs this outbox never made (data dir restored from a backup)', async () => {
    const { proxy, cloud, edge } = await world();
    cloud.ackReports = false;
    const l = link(edge, proxy.url);
    await connected(l);
    for (const v of ['1', '2']) edge.twin.outbox.append(report(v));
    await batchCount(cloud, 1, 'the first batch');
    const old = edge.twin.outbox.epoch();
    // the cloud applied 500 seqs of this epoch before the backup was restored
    await cloud.ack({ upTo: 500, epoch: old, timestamp: Date.now() });
    await until(
      (w) => cloud.onReport(w),
      () => cloud.batches.some((b) => b.epoch !== old),
      'a batch in a new epoch',
    );
    const fresh = cloud.batches.find((b) => b.epoch !== old)!;
    expect(fresh).toMatchObject({ after: 0, ackedSeq: 0 });
    expect(fresh.entries.map((e) => e.seq)).toEqual([1, 2]);
    expect(edge.twin.outbox.ackedSeq()).toBe(0);
    expect(await edge.twin.metrics.metrics()).toMatch(
      /edgetwin_cloudlink_report_epochs_total\{reason="unearned-ack"\} 1/,
    );
  });

  it('loses nothing across an edge restart: desired state and unsent reports are in SQLite', async () => {
    const { proxy, cloud, edge } = await world();
    await cloud.putModel(model('thermo'));
    await cloud.putDevice(device('t1'));
    const l1 = startCloudLinkEdge({ twin: edge.twin, cloudUrl: proxy.url, backoffMs: 50 });
    await synced(l1, await cloud.publishIndex());

    proxy.cut();
    await until(
      (w) => l1.onConnectionChange(w),
      () => !l1.connected,
      'the link to drop',
    );
    // the twin may have its own entries (the device's creation) not yet acknowledged: they must survive too
    const before = edge.twin.outbox.ackedSeq();
    const mine = [1, 2, 3, 4, 5].map((i) => edge.twin.outbox.append(report(String(i))).seq);
    const last = mine.at(-1)!;
    await l1.close();
    await edge.twin.close();

    const twin = await edge.reopenTwin();
    expect(held(edge)).toEqual(['default/t1']);
    const unsent = twin.outbox.pending(before, 100).map((e) => e.seq);
    expect(unsent.slice(-5)).toEqual(mine);
    proxy.restore();
    const l2 = link(edge, proxy.url);
    await until(
      (w) => l2.onReportsAcked(w),
      () => twin.outbox.ackedSeq() === last,
      `ack up to ${last}`,
    );
    const arrived = cloud.reports.map((e) => e.seq);
    expect(arrived.slice(-unsent.length)).toEqual(unsent);
    expect(new Set(arrived).size).toBe(arrived.length);
    expect(cloud.reports.slice(-5).map((e) => (e.kind === 'twin' ? e.twins[0]?.reported?.value : ''))).toEqual([
      '1',
      '2',
      '3',
      '4',
      '5',
    ]);
    expect(NODE).toBe(twin.node);
  });
});
