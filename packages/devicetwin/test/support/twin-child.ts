// A twin in its own process, for the SIGKILL durability test:
//   node packages/cli/bin/run-ts.js packages/devicetwin/test/support/twin-child.ts <broker url> <db path>
// Prints "ready" once it serves the KubeEdge samples.

import { connectBus } from '@edgetwin/eventbus';
import { openDeviceTwin } from '../../src/index.js';
import { kubeedgeSamples, NODE } from './harness.js';

const [url, dbPath] = process.argv.slice(2);
if (!url || !dbPath) {
  console.error('usage: twin-child.ts <broker url> <db path>');
  process.exit(2);
}
const bus = await connectBus({ url, clientId: `twin-child-${process.pid}` });
// The durability test makes one new property per update (each acknowledged one is checkable on its own),
// far past the default of 64 a device may hold beyond its model.
const twin = await openDeviceTwin({ dbPath, node: NODE, bus, limits: { maxExtraProperties: 10_000 } });
const loaded = await twin.loadManifests(await kubeedgeSamples());
if (loaded.errors.length) throw new Error(JSON.stringify(loaded.errors));
process.stdout.write('ready\n');
