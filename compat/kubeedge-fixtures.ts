// Where the compatibility tier finds KubeEdge's own CRDs and samples (issue 9 §1). They are third-party
// files the repository never contains: EDGETWIN_KUBEEDGE_FIXTURES names the folder (crds/ and samples/);
// without it, the folder `../shared/fixtures/kubeedge` beside the repository root is used when it exists.
// Absent, the tier skips with the reason; .ci/run refuses a skipped tier.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { expect } from 'vitest';
import type { CrdSet } from '../packages/api/src/validate/index.js';
import { fromSchema } from '../packages/api/test/support/schema-arbitrary.js';
import { schemaProblems } from '../packages/api/test/support/schema-problems.js';

export const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));
export const FIXTURES_ENV = 'EDGETWIN_KUBEEDGE_FIXTURES';
const DEFAULT_DIR = resolve(REPO_ROOT, '..', 'shared', 'fixtures', 'kubeedge');

export type KubeedgeFixtures = { dir: string; skip?: undefined } | { dir?: undefined; skip: string };

/** The fixtures folder, or why the tier skips. A folder named by the variable but missing is an error. */
export function locateKubeedgeFixtures(env: NodeJS.ProcessEnv = process.env): KubeedgeFixtures {
  const configured = env[FIXTURES_ENV];
  const dir = configured ? resolve(REPO_ROOT, configured) : DEFAULT_DIR;
  const complete = existsSync(join(dir, 'crds')) && existsSync(join(dir, 'samples'));
  if (complete) return { dir };
  if (configured) {
    throw new Error(`${FIXTURES_ENV}=${configured}: ${dir} has no crds/ and samples/ folders`);
  }
  return {
    skip: `KubeEdge fixtures not found at ${dir}: set ${FIXTURES_ENV} to a folder holding KubeEdge's crds/ and samples/`,
  };
}

/**
 * Asserts that `ours` accepts every object of one apiVersion/kind that KubeEdge's CRDs accept, on objects
 * generated at random from KubeEdge's own schema (spec, and status where it has one).
 */
export function expectAcceptsWhatKubeedgeAccepts(kubeedge: CrdSet, ours: CrdSet, apiVersion: string, kind: string) {
  const theirs = kubeedge.lookup(apiVersion, kind)!.schema;
  const status = theirs.properties?.status;
  const arb = fc.record(
    {
      spec: fromSchema(theirs.properties?.spec ?? { type: 'object' }),
      ...(status !== undefined ? { status: fromSchema(status) } : {}),
    },
    { requiredKeys: ['spec'] },
  );
  fc.assert(
    fc.property(arb, (body) => {
      const obj = { apiVersion, kind, metadata: { name: 'x' }, ...(body as object) };
      expect(schemaProblems(kubeedge, obj)).toEqual([]);
      expect(schemaProblems(ours, obj)).toEqual([]);
    }),
    { numRuns: 150 },
  );
}
