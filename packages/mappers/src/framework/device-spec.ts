// Decodes a ResolvedDevice from the mapper contract topic, naming the field at fault.

import type { ResolvedDevice } from '@edgetwin/api';

export function decodeResolvedDevice(
  payload: Buffer,
  expectId: string,
): { ok: true; value: ResolvedDevice } | { ok: false; error: string } {
  let o: unknown;
  try {
    o = JSON.parse(payload.toString('utf8'));
  } catch (e) {
    return { ok: false, error: `device spec is not JSON: ${(e as Error).message}` };
  }
  if (!o || typeof o !== 'object' || Array.isArray(o)) return { ok: false, error: 'device spec must be a JSON object' };
  const d = o as Partial<ResolvedDevice>;
  if (d.id !== expectId)
    return { ok: false, error: `device spec id "${String(d.id)}" does not match its topic (${expectId})` };
  if (typeof d.protocol !== 'string') return { ok: false, error: 'device spec protocol must be a string' };
  if (!d.protocolConfig || typeof d.protocolConfig !== 'object')
    return { ok: false, error: 'protocolConfig must be an object' };
  if (!Array.isArray(d.properties)) return { ok: false, error: 'properties must be an array' };
  for (const [i, p] of d.properties.entries()) {
    const where = `properties[${i}]`;
    if (!p || typeof p !== 'object' || typeof p.name !== 'string' || !p.name)
      return { ok: false, error: `${where}.name must be a non-empty string` };
    if (!p.visitor || typeof p.visitor !== 'object')
      return { ok: false, error: `${where} (${p.name}).visitor must be an object` };
    if (!(p.collectCycleMs > 0) || !(p.reportCycleMs > 0))
      return { ok: false, error: `${where} (${p.name}): collectCycleMs and reportCycleMs must be > 0` };
  }
  if (!d.stateReport || typeof d.stateReport.reportCycleMs !== 'number')
    return { ok: false, error: 'stateReport.reportCycleMs must be a number' };
  return { ok: true, value: d as ResolvedDevice };
}
