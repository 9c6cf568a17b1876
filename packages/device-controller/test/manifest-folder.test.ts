import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type FolderSyncResult, ManifestFolder } from '../src/sources/embedded/manifest-folder.js';
import { EmbeddedStore } from '../src/sources/embedded/store.js';
import { tempDir, waitFor } from './support.js';

const modelYaml = (max = '30') => `apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata:
  name: thermo
spec:
  protocol: virtual
  properties:
    - name: setpoint
      type: INT
      maximum: "${max}"
`;
const deviceYaml = (name: string, node = 'n1') => `apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata:
  name: ${name}
spec:
  deviceModelRef:
    name: thermo
  nodeName: ${node}
  protocol:
    protocolName: virtual
  properties:
    - name: setpoint
`;

describe('ManifestFolder', () => {
  let store: EmbeddedStore;
  let folder: ManifestFolder;
  let dir: string;
  let cleanup: () => void;
  let syncs: FolderSyncResult[];

  beforeEach(() => {
    const t = tempDir();
    cleanup = t.cleanup;
    dir = join(t.dir, 'manifests');
    mkdirSync(dir);
    store = new EmbeddedStore({ path: join(t.dir, 'c.db') });
    syncs = [];
    folder = new ManifestFolder({ dir, store, debounceMs: 20, onSync: (r) => syncs.push(r) });
  });
  afterEach(() => {
    folder.stop();
    store.close();
    cleanup();
  });

  const nextSync = async () => {
    const n = syncs.length;
    return waitFor(() => syncs[n], 'a folder sync');
  };

  it('applies the folder, follows edits, and deletes what leaves the folder (and only that)', async () => {
    writeFileSync(join(dir, 'model.yaml'), modelYaml());
    writeFileSync(join(dir, 'a.yaml'), deviceYaml('a'));
    writeFileSync(join(dir, 'notes.txt'), 'not a manifest');
    expect(folder.start()).toEqual({ applied: 2, deleted: 0, findings: [] });
    // an object applied by hand is not the folder's to delete
    store.apply([
      {
        apiVersion: 'devices.kubeedge.io/v1beta1',
        kind: 'Device',
        metadata: { name: 'manual', namespace: 'default' },
        spec: { deviceModelRef: { name: 'thermo' }, nodeName: 'n1' },
      },
    ]);

    let sync = nextSync();
    writeFileSync(join(dir, 'a.yaml'), deviceYaml('a', 'n2'));
    expect((await sync).applied).toBe(1);
    expect(store.device('default', 'a')?.spec.nodeName).toBe('n2');

    sync = nextSync();
    rmSync(join(dir, 'a.yaml'));
    expect((await sync).deleted).toBe(1);
    expect(store.device('default', 'a')).toBeUndefined();
    expect(store.device('default', 'manual')).toBeDefined();
    // the model stays while the manual device uses it, even when its file goes
    sync = nextSync();
    rmSync(join(dir, 'model.yaml'));
    await sync;
    expect(store.model('default', 'thermo')).toBeDefined();
  });

  it('changes nothing while the folder does not validate, and reports where', async () => {
    writeFileSync(join(dir, 'model.yaml'), modelYaml());
    writeFileSync(join(dir, 'a.yaml'), deviceYaml('a'));
    folder.start();
    const sync = nextSync();
    writeFileSync(join(dir, 'a.yaml'), deviceYaml('a').replace('name: thermo', 'name: missing'));
    const r = await sync;
    expect(r.applied).toBe(0);
    expect(r.findings[0]).toMatch(/a\.yaml:\d+:\d+: Device\/default\/a: spec\.deviceModelRef\.name: .*missing/);
    expect(store.device('default', 'a')?.spec.deviceModelRef?.name).toBe('thermo');
  });

  it('survives a restart: ownership is kept in an annotation', () => {
    writeFileSync(join(dir, 'model.yaml'), modelYaml());
    writeFileSync(join(dir, 'b.yaml'), deviceYaml('b'));
    folder.start();
    folder.stop();
    rmSync(join(dir, 'b.yaml'));
    const again = new ManifestFolder({ dir, store });
    expect(again.start().deleted).toBe(1);
    again.stop();
    expect(store.devices()).toEqual([]);
  });
});
