// Issue 10: a user name is looked up in a table of credentials. Names that are also properties of every
// JavaScript object (`__proto__`, `constructor`, `toString`, ...) must be plain unknown names: never
// authenticated, never a crash, and the real node keeps connecting.
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { staticNodes, startCloudLink } from '../src/cloud-link/index.js';
import { FakeDesired, FakeStatus } from './cloud-link-support.js';

const PROTO_NAMES = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf'];
// what a naive lookup would compare against: the inherited value, or how it prints
const GUESSES = ['', 'undefined', '[object Object]', 'function Object() { [native code] }', 'x'];

const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

describe('credentials looked up by user name', () => {
  it('staticNodes: an inherited property name is an unknown node, not an error', () => {
    // as `edgetwin cloud --node-credentials FILE` reads it
    const nodes = staticNodes(JSON.parse('{"gw-1": "pw-1"}'));
    for (const name of PROTO_NAMES)
      for (const guess of GUESSES) expect(() => nodes.verify(name, guess), `${name}/${guess}`).not.toThrow();
    for (const name of PROTO_NAMES) for (const guess of GUESSES) expect(nodes.verify(name, guess)).toBe(false);
    expect(nodes.verify('gw-1', 'pw-1')).toBe(true);
  });

  it('the cloud-link broker refuses those names with any password and keeps serving the real node', async () => {
    const link = await startCloudLink({
      desired: new FakeDesired(),
      status: new FakeStatus(),
      broker: { embedded: { port: 0 } },
      nodeCredentials: JSON.parse('{"gw-1": "pw-1"}'),
    });
    closers.push(() => link.close());
    for (const name of PROTO_NAMES)
      for (const password of GUESSES)
        await expect(
          mqtt.connectAsync(link.url, {
            username: name,
            password,
            clientId: `edgetwin-edge-${name}`,
            reconnectPeriod: 0,
          }),
          `${name}/${password}`,
        ).rejects.toThrow(/Bad username or password/);
    const real = await mqtt.connectAsync(link.url, {
      username: 'gw-1',
      password: 'pw-1',
      clientId: 'edgetwin-edge-gw-1',
      reconnectPeriod: 0,
    });
    closers.push(() => real.endAsync(true));
    expect(real.connected).toBe(true);
  });
});
