// Recent events of devices and nodes (issue 16 §3: `describe node` and `describe devicemodel` show them as
// `kubectl describe` shows Events): state changes, write failures, refused readings, node presence, report
// batches the cloud link refused. Bounded: a ring of `capacity` events; a repeat of an object's last event
// (same reason and message) counts up instead of taking a new slot, as Kubernetes Events do.

export interface ControllerEvent {
  /** Normal or Warning, as Kubernetes Events */
  type: 'Normal' | 'Warning';
  /** CamelCase, e.g. StateChanged, WriteFailed, NodeOffline, ReportsRefused */
  reason: string;
  message: string;
  object: { kind: 'Device' | 'Node'; namespace?: string; name: string };
  /** first and last time it happened (ISO), and how often */
  firstTimestamp: string;
  lastTimestamp: string;
  count: number;
}

export type NewEvent = Pick<ControllerEvent, 'type' | 'reason' | 'message' | 'object'>;

export const EVENT_LOG_CAPACITY = 1000;

export class EventLog {
  private readonly ring: ControllerEvent[] = [];
  private readonly listeners = new Set<(e: ControllerEvent) => void>();

  constructor(
    private readonly capacity = EVENT_LOG_CAPACITY,
    private readonly now: () => number = Date.now,
  ) {}

  add(e: NewEvent): ControllerEvent {
    const at = new Date(this.now()).toISOString();
    const last = this.lastOf(e.object);
    if (last && last.reason === e.reason && last.message === e.message && last.type === e.type) {
      last.count++;
      last.lastTimestamp = at;
      for (const l of this.listeners) l(last);
      return last;
    }
    const ev: ControllerEvent = { ...e, firstTimestamp: at, lastTimestamp: at, count: 1 };
    this.ring.push(ev);
    if (this.ring.length > this.capacity) this.ring.shift();
    for (const l of this.listeners) l(ev);
    return ev;
  }

  /** Events of one object (or of every object of a kind when name is absent), oldest first, at most `limit`. */
  list(filter: { kind?: string; namespace?: string; name?: string }, limit = 50): ControllerEvent[] {
    const out = this.ring.filter(
      (e) =>
        (!filter.kind || e.object.kind === filter.kind) &&
        (!filter.name || e.object.name === filter.name) &&
        (!filter.namespace || (e.object.namespace ?? '') === filter.namespace),
    );
    return out.slice(-limit);
  }

  onEvent(listener: (e: ControllerEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get size(): number {
    return this.ring.length;
  }

  private lastOf(o: NewEvent['object']): ControllerEvent | undefined {
    for (let i = this.ring.length - 1; i >= 0; i--) {
      const e = this.ring[i]!;
      if (e.object.kind === o.kind && e.object.name === o.name && e.object.namespace === o.namespace) return e;
    }
    return undefined;
  }
}
