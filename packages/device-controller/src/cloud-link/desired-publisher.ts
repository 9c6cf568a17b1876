// Publishes each node's desired state as retained messages: one per Device and DeviceModel, then the
// DesiredIndex that lists them all by version. A node that reconnects (or starts from nothing) rebuilds
// the cloud's exact view from those retained messages; the index tells it when it has everything and
// what to delete. Changes are queued per node and published at once, in bursts; the index follows once the
// node's changes paused (issue 15 target 5: a 1,000-device index after every `twin set` cost both ends more
// CPU than the change itself).

import {
  type DesiredIndex,
  type Device,
  type DeviceModel,
  cloudTopics,
  desiredVersion,
  isNodeName,
  deviceId,
  stampGeneration,
} from '@edgetwin/api';
import type { Logger } from 'pino';
import type { DesiredChange, NodeDesiredState } from '../contracts.js';
import type { LinkClient } from '@edgetwin/eventbus/link-client';
import type { CloudLinkMetrics } from './link-metrics.js';
import type { LinkState, PublishedKind } from './link-state.js';

type QueueItem = { kind: 'full' } | { kind: 'change'; change: DesiredChange };

interface NodeQueue {
  devices: Map<string, string>;
  models: Map<string, string>;
  items: QueueItem[];
  draining: Promise<void> | undefined;
  generation: number;
  /** wakes the drain loop waiting for a quiet spell before the index */
  wake: (() => void) | undefined;
}

/** How long a node's changes must pause before its index is published, and the longest it waits. */
export interface IndexTiming {
  quietMs: number;
  maxDelayMs: number;
}

/**
 * The index follows a pause of 100 ms in a node's changes, at most 1 s after the first change it covers: a
 * stream of `twin set` calls gets about one index a second instead of one each. Objects never wait.
 */
export const DEFAULT_INDEX_TIMING: IndexTiming = { quietMs: 100, maxDelayMs: 1000 };

/** What the edge needs of a Device: everything but the status, which flows the other way. */
export function desiredDevice(device: Device): Device {
  const { status: _status, ...rest } = device;
  return rest;
}

export class DesiredPublisher {
  private readonly nodes = new Map<string, NodeQueue>();
  private idleWaiters: Array<() => void> = [];

  private readonly refusedNodes = new Set<string>();

  constructor(
    private readonly desired: NodeDesiredState,
    private readonly client: LinkClient,
    private readonly state: LinkState,
    private readonly log: Logger,
    private readonly metrics?: CloudLinkMetrics,
    private readonly indexTiming: IndexTiming = DEFAULT_INDEX_TIMING,
  ) {}

  /** Queues a full publication of every node the source, the credentials or the last run knew. */
  publishAll(extraNodes: string[]): void {
    const all = new Set([...this.desired.nodes(), ...extraNodes, ...this.state.nodesKnown()]);
    for (const node of all) this.enqueue(node, { kind: 'full' });
  }

  onChange(node: string, change: DesiredChange): void {
    this.enqueue(node, { kind: 'change', change });
  }

  generation(node: string): number {
    return this.nodes.get(node)?.generation ?? 0;
  }

  /** Resolves when every queued change has been published (with its index). */
  idle(): Promise<void> {
    if ([...this.nodes.values()].every((q) => !q.draining)) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private enqueue(node: string, item: QueueItem): void {
    // a node name is a topic level: one holding a space, a `/` or a wildcard (a Device's free-form
    // spec.nodeName) would publish elsewhere, or make a broker drop the controller (NATS disconnects a publisher
    // for a space), so such a node gets nothing, once said
    if (!isNodeName(node)) {
      if (!this.refusedNodes.has(node)) {
        this.refusedNodes.add(node);
        this.log.error(
          { node },
          'cloud link: spec.nodeName of some device is not a node name (letters, digits, ".", "_", "-"); nothing is published to it',
        );
      }
      return;
    }
    let q = this.nodes.get(node);
    if (!q) {
      // a node first seen through a change still gets a full publication first: an index built from the
      // change alone would list only that object and make the edge delete the rest
      q = {
        devices: new Map(),
        models: new Map(),
        items: [{ kind: 'full' }],
        draining: undefined,
        generation: 0,
        wake: undefined,
      };
      this.nodes.set(node, q);
    }
    q.items.push(item);
    q.wake?.();
    if (!q.draining) q.draining = this.drain(node, q);
  }

  private async drain(node: string, q: NodeQueue): Promise<void> {
    try {
      let firstUnindexed: number | undefined;
      for (;;) {
        while (q.items.length > 0) {
          const batch = q.items.splice(0);
          await this.publishBatch(node, q, batch);
          firstUnindexed ??= Date.now();
          // a full publication (start, a node first seen) gets its index at once: edges resync from it
          if (batch.some((b) => b.kind === 'full')) firstUnindexed = 0;
        }
        if (firstUnindexed === undefined) break;
        const wait = Math.min(this.indexTiming.quietMs, firstUnindexed + this.indexTiming.maxDelayMs - Date.now());
        if (wait > 0 && (await this.changeWithin(q, wait))) continue;
        await this.publishIndex(node, q);
        firstUnindexed = undefined;
        if (q.items.length === 0) break;
      }
    } catch (err) {
      // the client re-sends unacknowledged QoS 1 publishes itself; a failure here means the client
      // closed: give the node a full publication on the next start instead of retrying in a loop
      this.log.error({ err, node }, 'cloud link: publishing desired state failed');
    } finally {
      q.draining = undefined;
      if ([...this.nodes.values()].every((n) => !n.draining)) {
        const waiters = this.idleWaiters.splice(0);
        for (const w of waiters) w();
      }
    }
  }

  /** Resolves true as soon as a change is queued for the node, false after `ms` without one. */
  private changeWithin(q: NodeQueue, ms: number): Promise<boolean> {
    if (q.items.length > 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        q.wake = undefined;
        resolve(false);
      }, ms);
      q.wake = () => {
        clearTimeout(timer);
        q.wake = undefined;
        resolve(true);
      };
    });
  }

  /** Publishes the node's objects of one burst, stamped with a new generation (the index comes later). */
  private async publishBatch(node: string, q: NodeQueue, batch: QueueItem[]): Promise<void> {
    const writes = new Map<string, { kind: PublishedKind; id: string; object: Device | DeviceModel | null }>();
    const put = (kind: PublishedKind, id: string, object: Device | DeviceModel | null) =>
      writes.set(`${kind}\u0000${id}`, { kind, id, object });

    for (const item of batch) {
      if (item.kind === 'full') {
        const snap = this.desired.snapshot(node);
        const previous = this.state.published(node);
        q.devices.clear();
        q.models.clear();
        for (const p of previous) put(p.kind, p.id, null);
        for (const m of snap.models) put('model', deviceId(m), m);
        for (const d of snap.devices) put('device', deviceId(d), desiredDevice(d));
      } else {
        const c = item.change;
        const id = c.object ? deviceId(c.object) : c.id.includes('/') ? c.id : `default/${c.id}`;
        put(c.kind, id, c.kind === 'device' && c.object ? desiredDevice(c.object) : c.object);
      }
    }

    // the generation of the index that follows is stamped on every object of the batch, so an edge that
    // gets messages out of order can tell an old object or index from a new one (docs/cloud-link.md)
    q.generation = this.state.nextGeneration(node);
    const publishes: Promise<void>[] = [];
    // models first, so an edge reading in order rarely has to buffer a device for its model
    const ordered = [...writes.values()].sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'model' ? -1 : 1));
    for (const w of ordered) {
      const map = w.kind === 'device' ? q.devices : q.models;
      const topic = w.kind === 'device' ? cloudTopics.device(node, w.id) : cloudTopics.model(node, w.id);
      if (w.object) {
        map.set(w.id, desiredVersion(w.object));
        const payload = JSON.stringify(stampGeneration(w.object, q.generation));
        this.metrics?.desiredPublished.inc({ kind: w.kind, op: 'upsert' });
        publishes.push(this.client.publish(topic, payload, { qos: 1, retain: true }));
      } else {
        map.delete(w.id);
        this.metrics?.desiredPublished.inc({ kind: w.kind, op: 'delete' });
        // an empty retained payload deletes the retained message and tells a connected edge to remove it
        publishes.push(this.client.publish(topic, '', { qos: 1, retain: true }));
      }
    }
    await Promise.all(publishes);
    this.state.recordPublished(
      node,
      ordered.map((w) => ({ kind: w.kind, id: w.id, present: w.object !== null })),
    );
  }

  /** The index of everything published to the node so far, with the last burst's generation. */
  private async publishIndex(node: string, q: NodeQueue): Promise<void> {
    const index: DesiredIndex = {
      node,
      generation: q.generation,
      devices: Object.fromEntries(q.devices),
      models: Object.fromEntries(q.models),
      timestamp: Date.now(),
    };
    await this.client.publish(cloudTopics.index(node), JSON.stringify(index), { qos: 1, retain: true });
    this.metrics?.indexGeneration.set({ node }, q.generation);
    this.log.debug(
      { node, generation: q.generation, devices: q.devices.size, models: q.models.size },
      'cloud link: desired state published',
    );
  }
}
