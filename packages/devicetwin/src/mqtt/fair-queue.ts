// Requests waiting for the twin, one queue per device, served round-robin (issue 9 §3: a flood on one
// device slowed another device's requests 15x while they waited behind it in one FIFO). A batch takes one
// request from each device with requests waiting, then a second from each, and so on, so a device's
// request waits for at most one request of every other device, however many the flooder has queued.

export class FairQueue<T> {
  private readonly perKey = new Map<string, T[]>();
  /** keys with requests waiting, in service order; `head` is the next to serve */
  private ring: string[] = [];
  private head = 0;
  private total = 0;

  get size(): number {
    return this.total;
  }

  /** Requests of one key waiting. */
  sizeOf(key: string): number {
    return this.perKey.get(key)?.length ?? 0;
  }

  push(key: string, item: T): void {
    let q = this.perKey.get(key);
    if (!q) {
      q = [];
      this.perKey.set(key, q);
      this.ring.push(key);
    }
    q.push(item);
    this.total++;
  }

  /**
   * Takes up to `o.maxItems` requests round-robin across keys, at most `o.perKey(key)` of one key (0 = that
   * key must wait, e.g. while its replies are still in flight), stopping early once `o.maxWeight` is
   * reached (at least one is always taken), so a batch of large payloads stays short.
   */
  take(o: { maxItems: number; maxWeight: number; weight: (item: T) => number; perKey: (key: string) => number }): T[] {
    const out: T[] = [];
    const takenOf = new Map<string, number>();
    let w = 0;
    // keys passed over since the last take; a full round of them means nothing more may be taken now
    let passed = 0;
    while (out.length < o.maxItems && this.head < this.ring.length && (out.length === 0 || w < o.maxWeight)) {
      if (passed >= this.ring.length - this.head) break;
      const key = this.ring[this.head++]!;
      const taken = takenOf.get(key) ?? 0;
      if (taken >= o.perKey(key)) {
        this.ring.push(key);
        passed++;
        continue;
      }
      passed = 0;
      takenOf.set(key, taken + 1);
      const q = this.perKey.get(key)!;
      const item = q.shift()!;
      out.push(item);
      w += o.weight(item);
      this.total--;
      if (q.length) this.ring.push(key);
      else this.perKey.delete(key);
      if (this.head > 1024 && this.head * 2 > this.ring.length) {
        this.ring = this.ring.slice(this.head);
        this.head = 0;
      }
    }
    return out;
  }
}
