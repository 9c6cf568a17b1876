// Runs each protocol driver's config check (issue 11) on the Devices of a validated set, merged with their
// model as the mapper will see them, and places each issue where the key is written: the device's
// configData when the device sets the key, else the model's (so a bad visitor in a model shared by ten
// devices is one finding on the model line, not ten), else the nearest field that exists.

import type { ConfigIssue, ProtocolValidators } from '../protocol-config.js';
import { resolveDevice } from '../resolve.js';
import type { ConfigData, Device, DeviceModel } from '../types.js';
import { type Entry, hasErrors, toFinding } from './entry.js';
import type { FieldPath } from './finding.js';
import type { ModelIndex } from './semantic.js';

const PREFIX = 'edgetwin check: ';

function hasKey(data: ConfigData | null | undefined, key: string | undefined): boolean {
  return key !== undefined && data != null && Object.hasOwn(data, key);
}

export function checkProtocols(
  entries: Entry[],
  models: ModelIndex,
  modelEntries: Map<string, Entry>,
  validators: ProtocolValidators,
): void {
  if (Object.keys(validators).length === 0) return;
  const seen = new Set<string>();
  for (const e of entries) {
    if (e.kind !== 'Device' || e.object === undefined || hasErrors(e)) continue;
    const device = e.object as unknown as Device;
    const modelKey = `${e.namespace}/${device.spec?.deviceModelRef?.name}`;
    const model = models.get(modelKey);
    if (!model) continue;
    const resolved = resolveDevice(device, model);
    const validate = validators[resolved.protocol.toLowerCase()];
    if (!validate) continue;
    let issues: ConfigIssue[];
    try {
      issues = validate(resolved);
    } catch (err) {
      issues = [{ message: `the ${resolved.protocol} driver could not check this device: ${(err as Error).message}` }];
    }
    const modelEntry = modelEntries.get(modelKey);
    for (const issue of issues) {
      const place = placeIssue(issue, device, model);
      const target = place.onModel && modelEntry !== undefined ? modelEntry : e;
      const what = issue.key !== undefined ? `${issue.key} ${issue.message}` : issue.message;
      const message = `${PREFIX}${resolved.protocol}: ${target === e ? '' : `(device ${e.namespace}/${e.name}) `}${what}`;
      const dedupe = `${target.candidate.file}|${target.kind}/${target.name}|${place.path.join('.')}|${what}`;
      if (target !== e && seen.has(dedupe)) continue;
      seen.add(dedupe);
      target.findings.push(
        toFinding(
          target,
          { path: place.onModel && modelEntry ? place.path : place.devicePath, message },
          issue.severity ?? 'error',
        ),
      );
    }
  }
}

function placeIssue(
  issue: ConfigIssue,
  device: Device,
  model: DeviceModel,
): { onModel: boolean; path: FieldPath; devicePath: FieldPath } {
  const key = issue.key;
  if (issue.property === undefined) {
    const devicePath: FieldPath = ['spec', 'protocol', 'configData', ...(key !== undefined ? [key] : [])];
    if (!hasKey(device.spec?.protocol?.configData, key) && hasKey(model.spec?.protocolConfigData, key))
      return { onModel: true, path: ['spec', 'protocolConfigData', key as string], devicePath };
    return { onModel: false, path: devicePath, devicePath };
  }
  const di = (device.spec?.properties ?? []).findIndex((p) => p.name === issue.property);
  const devicePath: FieldPath =
    di < 0 ? ['spec', 'properties'] : ['spec', 'properties', di, 'visitors', 'configData', ...(key ? [key] : [])];
  const mi = (model.spec?.properties ?? []).findIndex((p) => p.name === issue.property);
  const dp = device.spec?.properties?.[di];
  const mp = model.spec?.properties?.[mi];
  if (!hasKey(dp?.visitors?.configData, key) && mi >= 0 && hasKey(mp?.visitors?.configData, key))
    return { onModel: true, path: ['spec', 'properties', mi, 'visitors', 'configData', key as string], devicePath };
  return { onModel: false, path: devicePath, devicePath };
}
