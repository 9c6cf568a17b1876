// Every example's manifests are what `edgetwin up --example NAME` applies: they must pass the same
// validation `edgetwin validate` and the controller run, and bind their devices to the node `up` runs.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatFinding, validateManifests } from '@edgetwin/api';
import { describe, expect, it } from 'vitest';

const EXAMPLES = fileURLToPath(new URL('..', import.meta.url));
const examples = readdirSync(EXAMPLES, { withFileTypes: true })
  .filter((d) => d.isDirectory() && d.name !== 'shared')
  .map((d) => d.name);

describe('example manifests', () => {
  it('there are the six examples', () => {
    expect(examples.sort()).toEqual([
      'ble-sensor-lamp',
      'led-raspberrypi',
      'line-plc',
      'parking',
      'parking-camera',
      'traffic-light',
    ]);
  });

  for (const name of examples) {
    it(`${name}: valid v1beta1 objects, every device on edge-node-1 in namespace default`, () => {
      const dir = join(EXAMPLES, name, 'manifests');
      const sources = readdirSync(dir)
        .filter((f) => f.endsWith('.yaml'))
        .map((f) => ({ file: join(dir, f), text: readFileSync(join(dir, f), 'utf8') }));
      const result = validateManifests(sources);
      expect(result.findings.filter((f) => f.severity === 'error').map(formatFinding)).toEqual([]);
      const devices = result.objects.map((o) => o.object).filter((o) => o.kind === 'Device');
      expect(devices.length).toBeGreaterThan(0);
      for (const d of devices) {
        expect(d.metadata.namespace).toBe('default');
        expect((d.spec as { nodeName?: string }).nodeName).toBe('edge-node-1');
      }
    });
  }
});
