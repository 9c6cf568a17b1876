import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DesiredChange } from '../src/contracts.js';
import { Dispatcher } from '../src/dispatch/dispatcher.js';
import { EmbeddedStore } from '../src/sources/embedded/store.js';
import { device, model, tempDir } from './support.js';

describe('Dispatcher', () => {
  let store: EmbeddedStore;
  let dispatcher: Dispatcher;
  let changes: string[];
  let cleanup: () => void;

  const describeChange = (node: string, c: DesiredChange) =>
    `${node} ${c.kind} ${c.id} ${c.object ? 'set' : 'removed'}`;

  beforeEach(() => {
    const t = tempDir();
    cleanup = t.cleanup;
    store = new EmbeddedStore({ path: join(t.dir, 'c.db') });
    dispatcher = new Dispatcher(store);
    dispatcher.start();
    changes = [];
    dispatcher.onChange((node, c) => changes.push(describeChange(node, c)));
  });
  afterEach(() => {
    dispatcher.stop();
    store.close();
    cleanup();
  });

  it('sends a device to its node, preceded by its model the first time only', () => {
    store.apply([
      model('thermo'),
      device('a', 'n1', 'thermo'),
      device('b', 'n1', 'thermo'),
      device('c', 'n2', 'thermo'),
    ]);
    expect(changes).toEqual([
      'n1 model default/thermo set',
      'n1 device default/a set',
      'n1 device default/b set',
      'n2 model default/thermo set',
      'n2 device default/c set',
    ]);
    expect(dispatcher.nodes()).toEqual(['n1', 'n2']);
    const snap = dispatcher.snapshot('n1');
    expect(snap.devices.map((d) => d.metadata.name).sort()).toEqual(['a', 'b']);
    expect(snap.models.map((m) => m.metadata.name)).toEqual(['thermo']);
  });

  it('sends a model edit to every node that holds a device of it, and to no other node', () => {
    store.apply([
      model('thermo'),
      model('lamp'),
      device('a', 'n1', 'thermo'),
      device('c', 'n2', 'thermo'),
      device('l', 'n3', 'lamp'),
    ]);
    changes.length = 0;
    store.apply([model('thermo', { temp: { type: 'FLOAT', maximum: '80' } })]);
    expect(changes.sort()).toEqual(['n1 model default/thermo set', 'n2 model default/thermo set']);
    expect(dispatcher.snapshot('n2').models[0]?.spec.properties?.[0]?.maximum).toBe('80');
  });

  it('moving a device removes it (and its model, if unused) from the first node', () => {
    store.apply([model('thermo'), device('a', 'n1', 'thermo'), device('b', 'n1', 'thermo')]);
    changes.length = 0;
    store.apply([device('a', 'n2', 'thermo')]);
    expect(changes).toEqual(['n1 device default/a removed', 'n2 model default/thermo set', 'n2 device default/a set']);
    changes.length = 0;
    store.apply([device('b', 'n2', 'thermo')]);
    expect(changes).toEqual([
      'n1 device default/b removed',
      'n1 model default/thermo removed',
      'n2 device default/b set',
    ]);
    expect(dispatcher.snapshot('n1')).toEqual({ devices: [], models: [] });
    expect(dispatcher.nodes()).toEqual(['n2']);
  });

  it('switching a device to another model swaps the models on its node', () => {
    store.apply([model('m1'), model('m2'), device('a', 'n1', 'm1')]);
    changes.length = 0;
    store.apply([device('a', 'n1', 'm2')]);
    expect(changes).toEqual(['n1 model default/m2 set', 'n1 device default/a set', 'n1 model default/m1 removed']);
  });

  it('never sends a status-only change down', () => {
    store.apply([model('thermo'), device('a', 'n1', 'thermo')]);
    changes.length = 0;
    store.writeStatusSync(store.device('default', 'a')!, {
      state: 'online',
      twins: [{ propertyName: 'temp', reported: { value: '3' } }],
    });
    store.writeStatusSync(store.device('default', 'a')!, { state: 'offline' });
    expect(changes).toEqual([]);
    // and the snapshot still holds the device as dispatched, without reported status
    expect(dispatcher.snapshot('n1').devices[0]?.status).toBeUndefined();
    store.apply([device('a', 'n1', 'thermo', ['temp', 'hum'])]);
    expect(changes).toEqual(['n1 device default/a set']);
  });

  it('deleting a device removes it, and its model with the last device of that model', () => {
    store.apply([model('thermo'), device('a', 'n1', 'thermo')]);
    changes.length = 0;
    store.delete([{ kind: 'Device', namespace: 'default', name: 'a' }]);
    expect(changes).toEqual(['n1 device default/a removed', 'n1 model default/thermo removed']);
  });

  it('a model created after its device still reaches the node', () => {
    store.apply([device('a', 'n1', 'late')]);
    expect(changes).toEqual(['n1 device default/a set']);
    store.apply([model('late')]);
    expect(changes).toEqual(['n1 device default/a set', 'n1 model default/late set']);
    expect(dispatcher.snapshot('n1').models.map((m) => m.metadata.name)).toEqual(['late']);
  });

  it('a dispatcher started on a store that already holds objects sees them all', () => {
    store.apply([model('thermo'), device('a', 'n1', 'thermo')]);
    const second = new Dispatcher(store);
    second.start();
    expect(second.snapshot('n1').devices.map((d) => d.metadata.name)).toEqual(['a']);
    expect(second.snapshot('n1').models.map((m) => m.metadata.name)).toEqual(['thermo']);
    second.stop();
  });
});
