// What an API server with one CRD set would refuse in an object (schema checks only, status dropped where
// the CRD has a status subresource), as `path: message` lines for test assertions.
import type { CrdSet } from '../../src/validate/index.js';

export function schemaProblems(crds: CrdSet, obj: Record<string, unknown>): string[] {
  const crd = crds.lookup(String(obj.apiVersion), String(obj.kind));
  if (crd === undefined) return [`no CRD for ${obj.apiVersion} ${obj.kind}`];
  const copy = structuredClone(obj);
  if (crd.statusSubresource) delete copy.status;
  return crd
    .validator()
    .validate(copy)
    .map((p) => `${p.path.join('.')}: ${p.message}`);
}
