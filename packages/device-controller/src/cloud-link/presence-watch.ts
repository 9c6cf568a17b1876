// Node presence at the controller (docs/cloud-link.md#presence, issue 14). An edge announces `online`
// (retained) on connect, leaves `offline` as its last will, and says its presence again every few seconds (a
// heartbeat, not retained). Wills alone are not enough: a broker cluster member that dies takes the wills of
// its clients with it (nats-server publishes none), and a node that died meanwhile would stay `online`
// forever. So a node not `offline` that the controller has heard nothing from (no presence, no report batch)
// for `timeoutMs` is marked offline here. Hearing is paused while the controller itself is cut off from the
// broker, and every node gets a fresh `timeoutMs` when it reconnects (the silence was the controller's).
// Only changes reach the status sink: a heartbeat repeating the presence changes nothing.

import { PRESENCES, type Presence, parseCloudTopic } from '@edgetwin/api';
import type { Logger } from 'pino';
import type { StatusSink } from '../contracts.js';
import type { CloudLinkMetrics } from './link-metrics.js';

/** Default: 4 edge heartbeats (5 s) may be lost before a node is taken for gone. */
export const DEFAULT_PRESENCE_TIMEOUT_MS = 20_000;

export class PresenceWatch {
  private readonly nodes = new Map<string, { presence: Presence; heardAt: number }>();
  private readonly timer: NodeJS.Timeout;
  private connected = true;

  constructor(
    private readonly status: StatusSink,
    private readonly timeoutMs: number,
    private readonly log: Logger,
    private readonly metrics: CloudLinkMetrics,
    private readonly now: () => number = Date.now,
  ) {
    this.timer = setInterval(() => this.expire(), Math.max(50, Math.min(1000, Math.floor(timeoutMs / 5))));
    this.timer.unref();
  }

  /**
   * A message on a node's presence topic (the announce, the will, or a heartbeat). A retained copy the broker
   * hands over on (re)subscribing says nothing new about the node: it only sets a presence not known yet.
   */
  onMessage(topic: string, payload: Buffer, retained = false): void {
    const parsed = parseCloudTopic(topic);
    if (parsed?.kind !== 'presence' || payload.length === 0) return;
    const text = payload.toString('utf8');
    if (!(PRESENCES as readonly string[]).includes(text)) {
      this.log.warn(
        { node: parsed.node, payload: text.slice(0, 40) },
        `cloud link: presence is none of ${PRESENCES.join(', ')}`,
      );
      return;
    }
    if (retained && this.nodes.get(parsed.node)?.presence === text) return;
    this.presence(parsed.node, text as Presence);
  }

  presence(node: string, presence: Presence): void {
    const prev = this.nodes.get(node);
    this.nodes.set(node, { presence, heardAt: this.now() });
    if (prev?.presence !== presence) this.status.setNodePresence(node, presence, new Date(this.now()));
  }

  /** Anything else from the node (a report batch): it is there. */
  heard(node: string): void {
    const n = this.nodes.get(node);
    if (n && n.presence !== 'offline') n.heardAt = this.now();
  }

  /** The controller's own connection to the broker. */
  setConnected(connected: boolean): void {
    this.connected = connected;
    if (!connected) return;
    const now = this.now();
    for (const n of this.nodes.values()) n.heardAt = now;
  }

  private expire(): void {
    if (!this.connected) return;
    const now = this.now();
    for (const [node, n] of this.nodes) {
      if (n.presence === 'offline' || now - n.heardAt <= this.timeoutMs) continue;
      n.presence = 'offline';
      this.metrics.presenceTimeouts.inc();
      this.log.warn(
        { node, silentMs: now - n.heardAt, timeoutMs: this.timeoutMs },
        'cloud link: nothing heard from the node within the presence timeout; marked offline (its will may have been lost with a broker member)',
      );
      this.status.setNodePresence(node, 'offline', new Date(now));
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
