import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SourceEvent } from '../src/source.js';
import { ConflictError, EmbeddedStore, NotFoundError } from '../src/sources/embedded/store.js';
import { device, model, tempDir } from './support.js';

describe('EmbeddedStore', () => {
  const cleanups: Array<() => void> = [];
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });
  const open = (path?: string) => {
    const t = tempDir();
    const store = new EmbeddedStore({ path: path ?? join(t.dir, 'c.db') });
    cleanups.push(() => store.close(), t.cleanup);
    return store;
  };

  it('gives every write a new, increasing resourceVersion and reports created/configured/unchanged', () => {
    const store = open();
    const [m] = store.apply([model('m1')]);
    const [d] = store.apply([device('d1', 'n1', 'm1')]);
    expect(m?.action).toBe('created');
    expect(Number(d?.resourceVersion)).toBeGreaterThan(Number(m?.resourceVersion));
    expect(store.apply([device('d1', 'n1', 'm1')])[0]?.action).toBe('unchanged');
    const [again] = store.apply([device('d1', 'n2', 'm1')]);
    expect(again?.action).toBe('configured');
    expect(Number(again?.resourceVersion)).toBeGreaterThan(Number(d?.resourceVersion));
    expect(store.device('default', 'd1')?.metadata.generation).toBe(2);
    expect(store.resourceVersion()).toBe(again?.resourceVersion);
  });

  it('streams ADDED, MODIFIED (also for status) and DELETED events to watchers', () => {
    const store = open();
    const events: SourceEvent[] = [];
    store.onEvent((e) => events.push(e));
    store.apply([model('m1'), device('d1', 'n1', 'm1')]);
    store.writeStatusSync(store.device('default', 'd1')!, { state: 'online' });
    store.delete([{ kind: 'Device', namespace: 'default', name: 'd1' }]);
    expect(events.map((e) => `${e.type} ${e.object.kind}`)).toEqual([
      'ADDED DeviceModel',
      'ADDED Device',
      'MODIFIED Device',
      'DELETED Device',
    ]);
    const rvs = events.map((e) => Number(e.object.metadata.resourceVersion));
    expect([...rvs].sort((a, b) => a - b)).toEqual(rvs);
    expect(new Set(rvs).size).toBe(rvs.length);
  });

  it('refuses a write that names a stale resourceVersion, and changes nothing of the batch', () => {
    const store = open();
    const [r] = store.apply([model('m1'), device('d1', 'n1', 'm1')]).slice(1);
    const stale = device('d1', 'n2', 'm1');
    stale.metadata.resourceVersion = String(Number(r?.resourceVersion) - 1);
    expect(() => store.apply([model('m2'), stale])).toThrow(ConflictError);
    expect(store.device('default', 'd1')?.spec.nodeName).toBe('n1');
    expect(store.model('default', 'm2')).toBeUndefined();
    const fresh = device('d1', 'n2', 'm1');
    fresh.metadata.resourceVersion = r?.resourceVersion;
    expect(store.apply([fresh])[0]?.action).toBe('configured');
  });

  it('keeps status across spec changes, ignores status in applied manifests, and comes back from disk', () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    const path = join(t.dir, 'sub', 'c.db');
    const a = new EmbeddedStore({ path });
    a.apply([model('m1'), device('d1', 'n1', 'm1')]);
    a.writeStatusSync(a.device('default', 'd1')!, {
      state: 'online',
      twins: [{ propertyName: 'temp', reported: { value: '21' } }],
    });
    const edited = device('d1', 'n1', 'm1', ['temp', 'hum']);
    edited.status = { state: 'bogus' };
    a.apply([edited]);
    const rv = a.resourceVersion();
    a.close();
    const b = new EmbeddedStore({ path });
    cleanups.push(() => b.close());
    const d = b.device('default', 'd1')!;
    expect(d.status?.state).toBe('online');
    expect(d.status?.twins?.[0]?.reported?.value).toBe('21');
    expect(d.spec.properties?.map((p) => p.name)).toEqual(['temp', 'hum']);
    expect(b.resourceVersion()).toBe(rv);
    expect(Number(b.apply([model('m2')])[0]?.resourceVersion)).toBe(Number(rv) + 1);
  });

  it('applying the same manifest again changes nothing, and keeps the stamp of a value it agrees with', async () => {
    const store = open();
    const manifest = device('d1', 'n1', 'm1', ['temp']);
    manifest.spec.properties![0]!.desired = { value: '21' };
    store.apply([model('m1'), manifest]);
    const events: SourceEvent[] = [];
    store.onEvent((e) => events.push(e));
    expect(store.apply([manifest])[0]?.action).toBe('unchanged');
    expect(events).toEqual([]);

    const set = await store.setDesired(store.device('default', 'd1')!, [{ index: 0, value: '21' }]);
    const stamp = set.spec.properties![0]!.desired!.metadata!.timestamp;
    events.length = 0;
    // the file says nothing about when `twin set` last asserted 21: no re-assert, no change at all
    expect(store.apply([manifest])[0]?.action).toBe('unchanged');
    expect(store.apply([manifest])[0]?.action).toBe('unchanged');
    expect(events).toEqual([]);
    expect(store.device('default', 'd1')!.spec.properties![0]!.desired).toEqual({
      value: '21',
      metadata: { timestamp: stamp },
    });
    expect(manifest.spec.properties![0]!.desired).toEqual({ value: '21' }); // the caller's object is untouched

    // a file with another value is a change; the stamp of the old value goes with it
    const edited = structuredClone(manifest);
    edited.spec.properties![0]!.desired = { value: '19' };
    expect(store.apply([edited])[0]?.action).toBe('configured');
    expect(store.device('default', 'd1')!.spec.properties![0]!.desired).toEqual({ value: '19' });
  });

  it('deletes all or nothing', () => {
    const store = open();
    store.apply([model('m1'), device('d1', 'n1', 'm1')]);
    expect(() =>
      store.delete([
        { kind: 'Device', namespace: 'default', name: 'd1' },
        { kind: 'Device', namespace: 'default', name: 'nope' },
      ]),
    ).toThrow(NotFoundError);
    expect(store.device('default', 'd1')).toBeDefined();
  });
});
