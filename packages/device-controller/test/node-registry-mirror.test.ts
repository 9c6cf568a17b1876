// The node registry mirrored where every controller replica reads it (issue 14, controller replicas; the
// Kubernetes Secrets themselves: kube-leader.test.ts): each change reaches the mirror, a join is let in only
// once the mirror holds it (else a failover would lock the edge out with a credential nobody knows), a failed
// write is retried when the edge tries again, and a registry that takes over the mirror's records lets in the
// edges that joined through another.

import { decodeJoinToken, joinPassword } from '@edgetwin/api/join-token';
import { describe, expect, it } from 'vitest';
import { cloudLinkAuth, edgeClientId } from '../src/cloud-link/index.js';
import { type IdentityRecord, NodeRegistry, type NodeRegistryMirror } from '../src/cloud-link/node-registry.js';

class MapMirror implements NodeRegistryMirror {
  readonly records = new Map<string, IdentityRecord>();
  failures = 0;
  async save(name: string, record: IdentityRecord | undefined): Promise<void> {
    await Promise.resolve();
    if (this.failures > 0) {
      this.failures--;
      throw new Error('API server unavailable');
    }
    if (record) this.records.set(name, record);
    else this.records.delete(name);
  }
}

const login = (registry: NodeRegistry, node: string, password: string) =>
  cloudLinkAuth({ nodes: registry, controllerPassword: 'x' }).authenticate?.(
    edgeClientId(node),
    node,
    Buffer.from(password),
  );

describe('a node registry with a mirror', () => {
  it('writes every change to the mirror: added, joined, removed', async () => {
    const mirror = new MapMirror();
    const reg = new NodeRegistry();
    reg.attachMirror(mirror, []);
    const token = decodeJoinToken(reg.add('gw-1'));
    await reg.saved('gw-1');
    expect(mirror.records.get('gw-1')).toMatchObject({ name: 'gw-1', credentialHash: null });
    expect(await login(reg, 'gw-1', joinPassword(token.secret, 'cred-1'))).toBe(true);
    expect(mirror.records.get('gw-1')?.credentialHash).toMatch(/^[0-9a-f]{64}$/);
    reg.remove('gw-1');
    await reg.saved('gw-1');
    expect(mirror.records.has('gw-1')).toBe(false);
  });

  it('refuses a join the mirror could not store, and lets the same join in once it can', async () => {
    const mirror = new MapMirror();
    const reg = new NodeRegistry();
    reg.attachMirror(mirror, []);
    const token = decodeJoinToken(reg.add('gw-1'));
    await reg.saved('gw-1');
    mirror.failures = 2; // the write and its one retry
    expect(await login(reg, 'gw-1', joinPassword(token.secret, 'cred-1'))).toBe(false);
    expect(mirror.records.get('gw-1')?.credentialHash).toBeNull();
    // the edge retries its join with the same credential (it saved it as pending before sending)
    expect(await login(reg, 'gw-1', joinPassword(token.secret, 'cred-1'))).toBe(true);
    expect(mirror.records.get('gw-1')?.credentialHash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('lets in, on the registry that takes over the records, an edge that joined through another', async () => {
    const mirror = new MapMirror();
    const leader = new NodeRegistry();
    leader.attachMirror(mirror, []);
    const token = decodeJoinToken(leader.add('gw-1'));
    expect(await login(leader, 'gw-1', joinPassword(token.secret, 'cred-1'))).toBe(true);
    const next = new NodeRegistry();
    next.add('stale-local-node');
    next.attachMirror(mirror, [...mirror.records.values()]);
    expect(await login(next, 'gw-1', 'cred-1')).toBe(true);
    expect(await login(next, 'gw-1', 'someone-else')).toBe(false);
    // the spent token stays spent
    expect(await login(next, 'gw-1', joinPassword(token.secret, 'cred-2'))).toBe(false);
    // what the mirror does not hold is not a node any more
    expect(next.names()).toEqual(['gw-1']);
  });
});
