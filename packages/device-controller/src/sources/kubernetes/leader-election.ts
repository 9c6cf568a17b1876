// Leader election with a coordination.k8s.io/v1 Lease (issue 14), as client-go's leaderelection does it, so
// several controller replicas can run and exactly one dispatches to edges and writes status. The holder
// renews the Lease every retryPeriod; a candidate takes it over when its renewTime has not moved for
// leaseDuration, measured on the candidate's own clock from when it last saw the record change (no clock
// is compared across machines). Every write is a replace guarded by the Lease's resourceVersion, so two
// candidates can never both win the same term. A leader that cannot renew within renewDeadline (shorter
// than leaseDuration) gives up before anyone else may take over: no two leaders at once, as long as the
// process stops acting when told (`onLost`). A leader that stops cleanly releases the Lease, so the next
// one takes over at its next retry instead of after leaseDuration.

import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { ApiException, CoordinationV1Api, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import pino, { type Logger } from 'pino';
import { requestOptions } from './request-options.js';

export interface LeaseElectorOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  /** the Lease's name (default edgetwin-controller) */
  name?: string;
  /** this replica's identity (default: $POD_NAME, else hostname, plus a random suffix) */
  identity?: string;
  /** how long a Lease not renewed stays the holder's (default 15 000 ms) */
  leaseDurationMs?: number;
  /** the leader gives up when it could not renew for this long (default 10 000 ms; < leaseDurationMs) */
  renewDeadlineMs?: number;
  /** how often candidates try and the leader renews (default 2 000 ms) */
  retryPeriodMs?: number;
  logger?: Logger;
}

/** MicroTime as the API server writes it (RFC 3339 with microseconds). */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaseElector {
  readonly identity: string;
  readonly name: string;
  private readonly api: CoordinationV1Api;
  private readonly leaseMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryMs: number;
  private readonly logger: Logger;
  /** the record last seen, and when (local monotonic clock) it last changed */
  private observed?: { holder: string; renewTime: string; resourceVersion: string };
  private observedAt = 0;
  private leading = false;
  private stopped = false;
  private timer?: NodeJS.Timeout;
  /** fires when the leader has not renewed for renewDeadline, whatever a hung request is doing */
  private deadline?: NodeJS.Timeout;
  /** when that is (performance.now()): a renewal's requests may take until then */
  private deadlineAt = 0;
  /** ends the wait between two rounds of acquire() (stop() while standing by) */
  private wake?: () => void;
  private readonly lostListeners = new Set<(why: string) => void>();

  constructor(private readonly opts: LeaseElectorOptions) {
    this.name = opts.name ?? 'edgetwin-controller';
    this.identity = opts.identity ?? `${process.env.POD_NAME ?? hostname()}_${randomBytes(4).toString('hex')}`;
    this.leaseMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryMs = opts.retryPeriodMs ?? 2_000;
    if (this.renewDeadlineMs >= this.leaseMs)
      throw new Error(
        `leader election: renewDeadline (${this.renewDeadlineMs} ms) must be shorter than the lease (${this.leaseMs} ms)`,
      );
    this.logger = (opts.logger ?? pino({ level: 'silent' })).child({ lease: `${opts.namespace}/${this.name}` });
    this.api = opts.kubeConfig.makeApiClient(CoordinationV1Api);
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** The holder last seen ('' when none). */
  get holder(): string {
    return this.observed?.holder ?? '';
  }

  /** Called once if leadership is lost (renew deadline passed, or the Lease taken): stop acting at once. */
  onLost(listener: (why: string) => void): () => void {
    this.lostListeners.add(listener);
    return () => this.lostListeners.delete(listener);
  }

  /**
   * Resolves once this replica holds the Lease (keeps trying every retryPeriod); then renews it. A round that
   * fails (the API server slow to answer within the request deadline, or unreachable for a while) is tried
   * again at the next retry, as client-go's candidates do: a standby that gave up on the first timeout left
   * the replicas without anyone to take over (seen under load: no takeover within 60 s).
   */
  async acquire(): Promise<void> {
    this.stopped = false;
    for (;;) {
      if (this.stopped) throw new Error('leader election stopped before the lease was acquired');
      let held = false;
      try {
        // a candidate's round may take as long as a leader's renewals may (a slow answer is still an answer)
        held = await this.tryAcquireOrRenew(this.renewDeadlineMs);
      } catch (e) {
        this.logger.warn({ err: describe(e) }, 'could not read or take the lease; still standing by');
      }
      if (held && this.stopped) {
        // told to stop while the winning round was under way: hand the Lease straight back
        this.leading = true;
        await this.stop({ release: true });
      }
      if (this.stopped) throw new Error('leader election stopped before the lease was acquired');
      if (held) break;
      await new Promise<void>((r) => {
        this.wake = r;
        this.timer = setTimeout(r, this.retryMs);
      });
    }
    this.leading = true;
    this.armDeadline();
    this.logger.info({ identity: this.identity }, 'became the leader');
    this.scheduleRenew();
  }

  /** Stops renewing; with `release`, hands the Lease back so another replica takes over at once. */
  async stop(opts: { release?: boolean } = {}): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.deadline) clearTimeout(this.deadline);
    // a replica standing by returns from acquire() (which throws) instead of waiting forever
    this.wake?.();
    if (this.leading && opts.release !== false) {
      try {
        const reqOpts = requestOptions(this.retryMs * 2);
        const lease = await this.api.readNamespacedLease({ name: this.name, namespace: this.opts.namespace }, reqOpts);
        if (lease.spec?.holderIdentity === this.identity) {
          const now = Date.now();
          lease.spec = {
            ...lease.spec,
            holderIdentity: '',
            leaseDurationSeconds: 1,
            renewTime: microTime(now) as unknown as Date,
          };
          await this.api.replaceNamespacedLease(
            { name: this.name, namespace: this.opts.namespace, body: lease },
            reqOpts,
          );
          this.logger.info('released the lease');
        }
      } catch (e) {
        this.logger.warn({ err: describe(e) }, 'could not release the lease; the next leader waits for it to expire');
      }
    }
    this.leading = false;
  }

  private scheduleRenew(): void {
    if (this.stopped) return;
    this.timer = setTimeout(async () => {
      let ok = false;
      try {
        // the round may take until the renew deadline, as client-go's does: a request cut at a shorter
        // deadline of its own (it was twice the retry period) made a leader whose API server answered slowly
        // but in time give up the lease (seen under load: lost 2 s after taking it, nobody up)
        ok = await this.tryAcquireOrRenew(Math.max(1, Math.ceil(this.deadlineAt - performance.now())));
      } catch (e) {
        this.logger.warn({ err: describe(e) }, 'renewing the lease failed');
      }
      if (this.stopped) return;
      if (ok) this.armDeadline();
      else if (this.observed && this.observed.holder !== this.identity)
        return this.lose(`the lease is held by ${this.observed.holder}`);
      this.scheduleRenew();
    }, this.retryMs);
  }

  private armDeadline(): void {
    if (this.deadline) clearTimeout(this.deadline);
    this.deadlineAt = performance.now() + this.renewDeadlineMs;
    this.deadline = setTimeout(
      () => this.lose(`could not renew the lease for ${this.renewDeadlineMs} ms`),
      this.renewDeadlineMs,
    );
  }

  private lose(why: string): void {
    if (!this.leading) return;
    this.leading = false;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.deadline) clearTimeout(this.deadline);
    this.logger.error({ why }, 'lost the leadership');
    for (const l of this.lostListeners) l(why);
  }

  /** One round: create the Lease, renew ours, or take over an expired one. True when we hold it after. */
  private async tryAcquireOrRenew(timeoutMs: number): Promise<boolean> {
    const ns = this.opts.namespace;
    // the deadline of each request of the round (read, then create or replace)
    const reqOpts = requestOptions(timeoutMs);
    const now = Date.now();
    const mine = {
      holderIdentity: this.identity,
      leaseDurationSeconds: Math.ceil(this.leaseMs / 1000),
      renewTime: microTime(now) as unknown as Date,
    };
    let lease: V1Lease;
    try {
      lease = await this.api.readNamespacedLease({ name: this.name, namespace: ns }, reqOpts);
    } catch (e) {
      if (!(e instanceof ApiException && e.code === 404)) throw e;
      try {
        await this.api.createNamespacedLease(
          {
            namespace: ns,
            body: {
              apiVersion: 'coordination.k8s.io/v1',
              kind: 'Lease',
              metadata: { name: this.name, namespace: ns },
              spec: { ...mine, acquireTime: microTime(now) as unknown as Date, leaseTransitions: 0 },
            },
          },
          reqOpts,
        );
        return true;
      } catch (ce) {
        if (ce instanceof ApiException && ce.code === 409) return false; // another candidate created it first
        throw ce;
      }
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const renewTime = String(spec.renewTime ?? '');
    const rv = lease.metadata?.resourceVersion ?? '';
    if (!this.observed || this.observed.resourceVersion !== rv) {
      this.observed = { holder, renewTime, resourceVersion: rv };
      this.observedAt = performance.now();
    }
    const durationMs = (spec.leaseDurationSeconds ?? Math.ceil(this.leaseMs / 1000)) * 1000;
    const expired = holder === '' || performance.now() - this.observedAt > durationMs;
    if (holder !== this.identity && !expired) return false;
    const body: V1Lease = {
      ...lease,
      spec: {
        ...spec,
        ...mine,
        ...(holder === this.identity
          ? {}
          : { acquireTime: microTime(now) as unknown as Date, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 }),
      },
    };
    try {
      // carries metadata.resourceVersion: refused with 409 if anyone wrote the Lease since we read it
      const out = await this.api.replaceNamespacedLease({ name: this.name, namespace: ns, body }, reqOpts);
      this.observed = {
        holder: this.identity,
        renewTime: String(out.spec?.renewTime ?? ''),
        resourceVersion: out.metadata?.resourceVersion ?? '',
      };
      this.observedAt = performance.now();
      if (holder !== this.identity) this.logger.info({ from: holder || '(released)' }, 'took over the lease');
      return true;
    } catch (e) {
      if (e instanceof ApiException && e.code === 409) return false;
      throw e;
    }
  }
}

function describe(e: unknown): string {
  if (e instanceof ApiException) return `HTTP ${e.code}: ${JSON.stringify(e.body)}`;
  return (e as Error)?.message ?? String(e);
}
