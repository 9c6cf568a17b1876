// Checks no schema can express, made over the whole set of objects: the model exists in the device's
// namespace, device properties name model properties, names are unique, visitors speak the device's
// protocol, bounds are ordered, desired values parse and lie within bounds, ReadOnly properties carry no
// desired value, cycles are positive. The API server accepts all of these; the edge would not work.
// Every message starts with "edgetwin check:" so a reader knows kubectl alone would not refuse it.

import { parsePushMethod } from '../push-config.js';
import type { Device, DeviceModel, ModelProperty } from '../types.js';
import { isNodeName } from '../topics.js';
import { bound, checkValue } from '../values.js';
import type { FieldPath, Severity } from './finding.js';
import { quoteValue } from './finding.js';

export interface SemanticProblem {
  path: FieldPath;
  message: string;
  expected?: string;
  severity: Severity;
  /** place the finding at the field's key rather than its value */
  atKey?: boolean;
}

const PREFIX = 'edgetwin check: ';

function err(path: FieldPath, message: string, expected?: string): SemanticProblem {
  return { path, message: PREFIX + message, ...(expected !== undefined ? { expected } : {}), severity: 'error' };
}
function atKey(path: FieldPath, message: string, expected?: string): SemanticProblem {
  return { ...err(path, message, expected), atKey: true };
}
function notice(path: FieldPath, message: string, expected?: string): SemanticProblem {
  return { path, message, ...(expected !== undefined ? { expected } : {}), severity: 'notice' };
}

/** Models visible to devices, by `namespace/name`; `null` marks a model present but itself invalid. */
export type ModelIndex = Map<string, DeviceModel | null>;

/**
 * A property at spec.properties[i] needs a name, unique in its list (KubeEdge's admission webhook checks the
 * same). Records the name in `seen`; returns false when there is no name to check further.
 */
function checkPropertyName(
  name: string | undefined,
  i: number,
  seen: Map<string, number>,
  out: SemanticProblem[],
  expectedName: string,
): name is string {
  const at = ['spec', 'properties', i, 'name'];
  if (!name) {
    out.push(err(at, 'property has no name', expectedName));
    return false;
  }
  const first = seen.get(name);
  if (first !== undefined)
    out.push(
      err(
        at,
        `duplicate property name ${quoteValue(name)}`,
        `expected unique names; first at spec.properties[${first}]`,
      ),
    );
  else seen.set(name, i);
  return true;
}

export function checkModel(model: DeviceModel): SemanticProblem[] {
  const out: SemanticProblem[] = [];
  const props = model.spec?.properties ?? [];
  if (props.length === 0)
    out.push(err(['spec', 'properties'], 'model has no properties', 'expected at least one property'));
  const seen = new Map<string, number>();
  props.forEach((p, i) => {
    const at = ['spec', 'properties', i];
    if (!checkPropertyName(p.name, i, seen, out, 'expected a non-empty name')) return;
    out.push(...checkBounds(p, at));
    const vp = p.visitors?.protocolName;
    if (vp && model.spec.protocol && vp !== model.spec.protocol)
      out.push(
        err(
          [...at, 'visitors', 'protocolName'],
          `visitor protocol ${quoteValue(vp)} differs from the model protocol ${quoteValue(model.spec.protocol)}`,
          `expected ${quoteValue(model.spec.protocol)}`,
        ),
      );
  });
  return out;
}

function checkBounds(p: ModelProperty, at: FieldPath): SemanticProblem[] {
  const out: SemanticProblem[] = [];
  const numeric = p.type === 'INT' || p.type === 'FLOAT' || p.type === 'DOUBLE';
  const min = bound(p.minimum);
  const max = bound(p.maximum);
  for (const [field, v] of [
    ['minimum', min],
    ['maximum', max],
  ] as const) {
    if (v === undefined) continue;
    if (!numeric) {
      out.push(
        notice(
          [...at, field],
          `${field} is ignored for type ${p.type ?? 'STRING (default)'}`,
          'expected only on INT, FLOAT or DOUBLE properties',
        ),
      );
    } else if (Number.isNaN(v)) {
      out.push(
        err(
          [...at, field],
          `${field} ${quoteValue(p[field])} is not a number`,
          'expected a decimal number as text, e.g. "0" or "100.5"',
        ),
      );
    } else if (p.type === 'INT' && !Number.isInteger(v)) {
      out.push(
        err(
          [...at, field],
          `${field} ${quoteValue(p[field])} is not an integer`,
          'expected an integer bound for an INT property',
        ),
      );
    }
  }
  if (numeric && min !== undefined && max !== undefined && !Number.isNaN(min) && !Number.isNaN(max) && min > max)
    out.push(
      err(
        [...at, 'minimum'],
        `minimum ${p.minimum} is greater than maximum ${p.maximum}`,
        'expected minimum <= maximum',
      ),
    );
  return out;
}

export function checkDevice(device: Device, models: ModelIndex): SemanticProblem[] {
  const out: SemanticProblem[] = [];
  const ns = device.metadata.namespace || 'default';
  const spec = device.spec ?? {};
  const modelName = spec.deviceModelRef?.name;
  let model: DeviceModel | null | undefined;
  if (!modelName) {
    out.push(
      err(
        ['spec', 'deviceModelRef', 'name'],
        'device names no model',
        'expected the name of a DeviceModel in the same namespace',
      ),
    );
  } else {
    model = models.get(`${ns}/${modelName}`);
    if (model === undefined)
      out.push(
        err(
          ['spec', 'deviceModelRef', 'name'],
          `DeviceModel ${quoteValue(modelName)} not found in namespace ${quoteValue(ns)}`,
          'expected a DeviceModel of that name in the same namespace, in the files validated together or already applied',
        ),
      );
  }
  const protocol = spec.protocol?.protocolName || model?.spec.protocol || '';
  if (!protocol)
    out.push(
      err(
        ['spec', 'protocol', 'protocolName'],
        'device has no protocol',
        'expected spec.protocol.protocolName, or spec.protocol on its model',
      ),
    );
  else if (model?.spec.protocol && spec.protocol?.protocolName && model.spec.protocol !== spec.protocol.protocolName)
    out.push(
      notice(
        ['spec', 'protocol', 'protocolName'],
        `device protocol ${quoteValue(spec.protocol.protocolName)} differs from its model's ${quoteValue(model.spec.protocol)}; the device's wins`,
      ),
    );
  if (!spec.nodeName)
    out.push(notice(['spec', 'nodeName'], 'no nodeName: the device is not dispatched to any edge node'));
  else if (!isNodeName(spec.nodeName))
    out.push(
      err(
        ['spec', 'nodeName'],
        `${quoteValue(spec.nodeName)} is not a node name`,
        'a Kubernetes node name: letters, digits, ".", "-"',
      ),
    );

  const props = spec.properties ?? [];
  if (props.length === 0)
    out.push(
      err(['spec', 'properties'], 'device has no properties', 'expected at least one property naming a model property'),
    );
  const modelProps = new Map((model?.spec.properties ?? []).map((p) => [p.name, p]));
  const seen = new Map<string, number>();
  props.forEach((p, i) => {
    const at = ['spec', 'properties', i];
    if (!checkPropertyName(p.name, i, seen, out, 'expected the name of a model property')) return;
    const mp = modelProps.get(p.name);
    if (model && mp === undefined)
      out.push(
        err(
          [...at, 'name'],
          `property ${quoteValue(p.name)} is not a property of DeviceModel ${quoteValue(modelName)}`,
          listOf('expected one of', [...modelProps.keys()]),
        ),
      );
    const vp = p.visitors?.protocolName;
    if (vp && protocol && vp !== protocol)
      out.push(
        err(
          [...at, 'visitors', 'protocolName'],
          `visitor protocol ${quoteValue(vp)} differs from the device protocol ${quoteValue(protocol)}`,
          `expected ${quoteValue(protocol)}`,
        ),
      );
    for (const cycle of ['collectCycle', 'reportCycle'] as const) {
      const v = p[cycle];
      if (v !== undefined && v <= 0)
        out.push(
          err(
            [...at, cycle],
            `${cycle} ${v} is not positive`,
            'expected milliseconds > 0; leave it out for the 1000 ms default',
          ),
        );
    }
    if (p.report?.mode === 'deadband' && p.report.deadband === undefined)
      out.push(err([...at, 'report', 'deadband'], 'report mode deadband needs a deadband', 'expected a number >= 0'));
    if (p.report?.deadband !== undefined && p.report.deadband < 0)
      out.push(
        err([...at, 'report', 'deadband'], `deadband ${p.report.deadband} is negative`, 'expected a number >= 0'),
      );
    for (const pp of parsePushMethod(p.pushMethod, { namespace: ns, name: device.metadata.name, property: p.name })
      .problems) {
      const path = [...at, 'pushMethod', ...pp.path];
      out.push(pp.severity === 'error' ? err(path, pp.message, pp.expected) : notice(path, pp.message, pp.expected));
    }
    if (p.desired !== undefined && mp !== undefined) {
      if (mp.accessMode === 'ReadOnly')
        out.push(
          atKey(
            [...at, 'desired'],
            `property ${quoteValue(p.name)} is ReadOnly in its model but has a desired value`,
            'expected no desired value on a ReadOnly property',
          ),
        );
      else {
        const check = checkValue(mp, p.desired.value);
        if (!check.ok) out.push(err([...at, 'desired', 'value'], `desired value: ${check.reason}`, expectedValue(mp)));
      }
    }
  });
  if (spec.stateReport?.reportCycle !== undefined && spec.stateReport.reportCycle <= 0)
    out.push(
      err(
        ['spec', 'stateReport', 'reportCycle'],
        `reportCycle ${spec.stateReport.reportCycle} is not positive`,
        'expected milliseconds > 0',
      ),
    );
  const methodNames = new Map<string, number>();
  (spec.methods ?? []).forEach((m, i) => {
    const first = methodNames.get(m.name);
    if (m.name && first !== undefined)
      out.push(
        err(
          ['spec', 'methods', i, 'name'],
          `duplicate method name ${quoteValue(m.name)}`,
          `expected unique names; first at spec.methods[${first}]`,
        ),
      );
    else if (m.name) methodNames.set(m.name, i);
    if ((m.propertyNames ?? []).length === 0)
      out.push(
        err(
          ['spec', 'methods', i, 'propertyNames'],
          `method ${quoteValue(m.name)} names no property`,
          'expected the properties a call of this method writes',
        ),
      );
    (m.propertyNames ?? []).forEach((pn, j) => {
      if (!seen.has(pn))
        out.push(
          err(
            ['spec', 'methods', i, 'propertyNames', j],
            `method ${quoteValue(m.name)} names unknown property ${quoteValue(pn)}`,
            listOf('expected one of', [...seen.keys()]),
          ),
        );
      else if (modelProps.get(pn)?.accessMode === 'ReadOnly')
        out.push(
          err(
            ['spec', 'methods', i, 'propertyNames', j],
            `method ${quoteValue(m.name)} writes property ${quoteValue(pn)}, which is ReadOnly in its model`,
            'expected ReadWrite properties only: a method call writes each property it names',
          ),
        );
    });
  });
  return out;
}

function expectedValue(mp: ModelProperty): string {
  const type = mp.type ?? 'STRING';
  const range =
    mp.minimum !== undefined || mp.maximum !== undefined
      ? ` within [${mp.minimum ?? '-inf'}, ${mp.maximum ?? '+inf'}]`
      : '';
  return `expected a ${type} value${range}, as text`;
}

function listOf(lead: string, names: string[]): string {
  if (names.length === 0) return `${lead}: (none)`;
  const shown = names.slice(0, 10).map((n) => quoteValue(n));
  return `${lead} ${shown.join(', ')}${names.length > 10 ? `, ... (${names.length} in all)` : ''}`;
}
