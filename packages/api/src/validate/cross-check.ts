// The edgetwin checks across the set (semantic.ts), run once every object passed the schema: duplicates,
// models by namespace, each protocol driver's config check, and stored devices a model change would break.

import type { ProtocolValidators } from '../protocol-config.js';
import type { Device, DeviceModel } from '../types.js';
import { formatPath } from './finding.js';
import { type Entry, hasErrors, toFinding } from './entry.js';
import { checkProtocols } from './protocol-check.js';
import { checkDevice, checkModel, type ModelIndex } from './semantic.js';

export function crossCheck(
  entries: Entry[],
  existingModels: DeviceModel[],
  existingDevices: Device[],
  protocols: ProtocolValidators,
): void {
  const models: ModelIndex = new Map();
  for (const m of existingModels) models.set(`${m.metadata.namespace || 'default'}/${m.metadata.name}`, m);
  const firstOf = new Map<string, Entry>();
  for (const e of entries) {
    if (e.object === undefined) continue;
    const key = `${e.kind}/${e.namespace}/${e.name}`;
    const first = firstOf.get(key);
    if (first !== undefined) {
      e.findings.push(
        toFinding(
          e,
          {
            path: ['metadata', 'name'],
            message: `edgetwin check: ${key} appears twice in the set`,
            expected: `expected each object once; first at ${first.candidate.file === e.candidate.file ? 'line ' : `${first.candidate.file}:`}${first.candidate.start.line}`,
          },
          'error',
        ),
      );
      continue;
    }
    firstOf.set(key, e);
    if (e.kind === 'DeviceModel') {
      const clean = !hasErrors(e);
      models.set(`${e.namespace}/${e.name}`, clean ? (e.object as unknown as DeviceModel) : null);
    }
  }
  for (const e of entries) {
    if (e.object === undefined || hasErrors(e)) continue;
    const problems =
      e.kind === 'DeviceModel'
        ? checkModel(e.object as unknown as DeviceModel)
        : e.kind === 'Device'
          ? checkDevice(e.object as never, models)
          : [];
    for (const p of problems) e.findings.push(toFinding(e, p, p.severity));
  }
  const modelEntries = new Map<string, Entry>();
  for (const e of firstOf.values()) if (e.kind === 'DeviceModel') modelEntries.set(`${e.namespace}/${e.name}`, e);
  checkProtocols(entries, models, modelEntries, protocols);
  checkStoredDevices(existingDevices, firstOf, models);
}

/** Reports, on the model being applied, every stored device (not replaced by the set) that it would break. */
function checkStoredDevices(devices: Device[], inSet: Map<string, Entry>, models: ModelIndex): void {
  for (const d of devices) {
    const ns = d.metadata?.namespace || 'default';
    if (inSet.has(`Device/${ns}/${d.metadata?.name}`)) continue;
    const model = inSet.get(`DeviceModel/${ns}/${d.spec?.deviceModelRef?.name}`);
    if (model === undefined || hasErrors(model)) continue;
    for (const p of checkDevice(d, models)) {
      if (p.severity !== 'error') continue;
      model.findings.push(
        toFinding(
          model,
          {
            path: [],
            message: `edgetwin check: stored Device ${ns}/${d.metadata.name} would break: ${p.message.replace(/^edgetwin check: /, '')} at ${formatPath(p.path)}`,
            expected: p.expected ?? 'expected the device to stay valid; change or apply it together with this model',
          },
          'error',
        ),
      );
    }
  }
}
