// The one behaviour every Source must have (src/source.ts; issue 14), run against each implementation: the
// embedded SQLite store (source-embedded.test.ts) and the Kubernetes source on a real kube-apiserver
// (source-kubernetes.test.ts). Dispatch and status coalescing see only this interface, so what passes here
// behaves the same downstream whichever source is configured.

import type { Device, DeviceModel } from '@edgetwin/api';
import { afterEach, describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError } from '../src/errors.js';
import type { Source, SourceEvent } from '../src/source.js';
import { device, model, waitFor, waitForAsync } from './support.js';

/** Where a Source's objects live, and how a user changes them there (kubectl, edgetwin apply). */
export interface SourceBackend {
  /** the namespace the test's objects go to */
  namespace: string;
  /** a source on this backend's objects, not started; the previous one is stopped first */
  newSource(): Promise<Source>;
  /** creates or updates objects, as `kubectl apply` / `edgetwin apply` do */
  put(...objects: Array<Device | DeviceModel>): Promise<void>;
  remove(kind: 'Device' | 'DeviceModel', name: string): Promise<void>;
  close(): Promise<void>;
}

export function sourceSuite(name: string, open: () => Promise<SourceBackend>): void {
  describe(`Source contract: ${name}`, () => {
    let backend: SourceBackend | undefined;
    afterEach(async () => {
      await backend?.close();
      backend = undefined;
    });
    const setUp = async () => {
      backend = await open();
      return backend;
    };
    const started = async (b: SourceBackend) => {
      const source = await b.newSource();
      await source.start();
      const events: string[] = [];
      source.onEvent((e: SourceEvent) => events.push(`${e.type} ${e.object.kind}/${e.object.metadata.name}`));
      return { source, events };
    };

    it('lists what exists at start, then reports every later change in order', async () => {
      const b = await setUp();
      const ns = b.namespace;
      await b.put(model('thermo', undefined, ns), device('a', 'n1', 'thermo', ['temp'], ns));
      const { source, events } = await started(b);
      expect(source.devices().map((d) => d.metadata.name)).toEqual(['a']);
      expect(source.models().map((m) => m.metadata.name)).toEqual(['thermo']);
      await b.put(device('b', 'n1', 'thermo', ['temp'], ns));
      await b.put(device('a', 'n2', 'thermo', ['temp'], ns));
      await b.remove('Device', 'b');
      await waitFor(() => events.includes('DELETED Device/b'), 'the delete of b', 10_000);
      expect(events).toEqual(['ADDED Device/b', 'MODIFIED Device/a', 'DELETED Device/b']);
      expect(source.device(ns, 'a')?.spec.nodeName).toBe('n2');
      expect(source.device(ns, 'b')).toBeUndefined();
    });

    it('hands out objects with apiVersion, kind and namespace, and nothing for unknown names', async () => {
      const b = await setUp();
      const ns = b.namespace;
      await b.put(model('thermo', undefined, ns), device('a', 'n1', 'thermo', ['temp'], ns));
      const { source } = await started(b);
      const d = source.device(ns, 'a')!;
      expect(d).toMatchObject({
        apiVersion: 'devices.kubeedge.io/v1beta1',
        kind: 'Device',
        metadata: { namespace: ns },
      });
      expect(d.metadata.resourceVersion).toMatch(/^\d+$/);
      expect(source.model(ns, 'thermo')?.kind).toBe('DeviceModel');
      expect(source.device(ns, 'nope')).toBeUndefined();
      expect(source.model(ns, 'nope')).toBeUndefined();
    });

    it('stores a status write durably: read back at once, and by a source started afterwards', async () => {
      const b = await setUp();
      const ns = b.namespace;
      await b.put(model('thermo', undefined, ns), device('a', 'n1', 'thermo', ['temp'], ns));
      const { source } = await started(b);
      const status = {
        state: 'online' as const,
        twins: [{ propertyName: 'temp', reported: { value: '21.5', metadata: { timestamp: '1000', type: 'float' } } }],
      };
      await source.writeStatus(source.device(ns, 'a')!, status);
      await waitForAsync(
        async () => (await source.readStatus(source.device(ns, 'a')!))?.state === 'online' || undefined,
        'the status read back',
        10_000,
      );
      expect(await source.readStatus(source.device(ns, 'a')!)).toMatchObject(status);
      const again = await b.newSource();
      await again.start();
      expect(await again.readStatus(again.device(ns, 'a')!)).toMatchObject(status);
    });

    it('sets desired values in one stamped write, refuses a stale read, and says when the device is gone', async () => {
      const b = await setUp();
      const ns = b.namespace;
      await b.put(model('thermo', undefined, ns), device('a', 'n1', 'thermo', ['temp', 'mode'], ns));
      const { source, events } = await started(b);
      const read = source.device(ns, 'a')!;
      const first = await source.setDesired(read, [
        { index: 0, value: '21' },
        { index: 1, value: 'eco' },
      ]);
      const [temp, mode] = first.spec.properties!.map((p) => p.desired);
      expect(temp?.value).toBe('21');
      expect(mode?.value).toBe('eco');
      expect(Number(temp?.metadata?.timestamp)).toBeGreaterThan(Date.now() - 60_000);
      expect(Number(first.metadata.resourceVersion)).toBeGreaterThan(Number(read.metadata.resourceVersion));
      // the same value again is a new write with a later stamp (a new command for the edge)
      const second = await source.setDesired(first, [{ index: 0, value: '21' }]);
      expect(Number(second.spec.properties![0]!.desired!.metadata!.timestamp)).toBeGreaterThan(
        Number(temp?.metadata?.timestamp),
      );
      expect(second.metadata.generation).toBe(first.metadata.generation! + 1);
      await waitFor(() => events.filter((e) => e === 'MODIFIED Device/a').length === 2, 'two changes of a', 10_000);
      // `first` is stale now
      await expect(source.setDesired(first, [{ index: 0, value: '22' }])).rejects.toThrow(ConflictError);
      expect(source.device(ns, 'a')?.spec.properties?.[0]?.desired?.value).toBe('21');
      await b.remove('Device', 'a');
      await waitFor(() => source.device(ns, 'a') === undefined, 'a gone from the source', 10_000);
      await expect(source.setDesired(second, [{ index: 0, value: '23' }])).rejects.toThrow(
        /** Kubernetes answers a JSON patch with a failed test (stale) or 404; either says it is not there */
        new RegExp(`${NotFoundError.name}|not found|stale|conflict`, 'i'),
      );
    });
  });
}
