// The project's own KubeEdge-format manifests for tests (issue 9 §1: the default suite needs nothing outside
// the repository). One home for every package's tests; KubeEdge's own files are read only by compat/.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** v1beta1 samples: a Modbus TCP temperature sensor and a virtual-protocol counter, on node kind-worker. */
export const SAMPLES = fileURLToPath(new URL('../fixtures/samples/', import.meta.url));
/** v1alpha2 manifests (converted to v1beta1 by validate). */
export const V1ALPHA2 = fileURLToPath(new URL('../fixtures/v1alpha2/', import.meta.url));

export const SAMPLE_FILES = {
  temperatureModel: 'temperature-model.yaml',
  temperatureDevice: 'temperature-device.yaml',
  counterModel: 'counter-model.yaml',
  counterDevice: 'counter-device.yaml',
} as const;

export const SAMPLE_NODE = 'kind-worker';

/** The .yaml files of one folder (not its subfolders), sorted by name, as validateManifests takes them. */
export function readYamlDir(dir: string): Array<{ file: string; text: string }> {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => ({ file: f, text: readFileSync(join(dir, f), 'utf8') }));
}
