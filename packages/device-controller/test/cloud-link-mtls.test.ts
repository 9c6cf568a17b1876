// Issue 10 §1 (the KubeEdge-grade option): mTLS on the cloud link. With `edgetwin cloud --client-ca`, every
// node must present a client certificate the operator's CA signed, whose common name is its node name, on
// top of its credential. A node without a certificate, with another node's, or with one from another CA
// is refused even with the right password; the node with its own certificate connects, and so does the
// controller's own client (which has none).

import { openLinkClient } from '@edgetwin/eventbus/link-client';
import mqtt from 'mqtt';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { startCloudLink } from '../src/cloud-link/index.js';
import { generateLinkCert, issueCertificate, type KeyAndCert } from '../src/cloud-link/link-tls.js';
import { FakeDesired, FakeStatus } from './cloud-link-support.js';

const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

type Issued = KeyAndCert;
const DAY = 24 * 3600 * 1000;

/** A CA, and a function issuing client certificates with a given common name from it. */
function operatorCa(name: string): Issued & { issue(cn: string): Issued } {
  const ca = issueCertificate({
    commonName: name,
    validMs: DAY,
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true },
    ],
  });
  return {
    ...ca,
    issue: (cn) =>
      issueCertificate({
        commonName: cn,
        validMs: DAY,
        issuer: ca,
        extensions: [
          { name: 'basicConstraints', cA: false },
          { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
          { name: 'extKeyUsage', clientAuth: true },
        ],
      }),
  };
}

describe('cloud link mTLS (client certificates from an operator CA)', () => {
  it('admits a node only with its own certificate and its password; the controller still connects', async () => {
    const server = generateLinkCert(['127.0.0.1', 'localhost']);
    const ca = operatorCa('edgetwin nodes CA');
    const other = operatorCa('someone else');
    const link = await startCloudLink({
      desired: new FakeDesired(),
      status: new FakeStatus(),
      broker: { embedded: { port: 0, tls: server, clientCa: ca.cert } },
      nodeCredentials: { 'gw-1': 'pw-1', 'gw-2': 'pw-2' },
    });
    closers.push(() => link.close()); // started: the controller's own client (no certificate) got in
    const gw1 = ca.issue('gw-1');
    const dial = (username: string, password: string, clientCert?: Issued) =>
      mqtt.connectAsync(link.url, {
        username,
        password,
        clientId: `edgetwin-edge-${username}`,
        ca: server.cert,
        ...(clientCert ? { cert: clientCert.cert, key: clientCert.key } : {}),
        reconnectPeriod: 0,
        connectTimeout: 5000,
      });
    const refused = /Bad username or password/;
    await expect(dial('gw-1', 'pw-1'), 'no certificate').rejects.toThrow(refused);
    await expect(dial('gw-1', 'pw-1', ca.issue('gw-2')), "gw-2's certificate").rejects.toThrow(refused);
    await expect(dial('gw-1', 'pw-1', other.issue('gw-1')), 'another CA').rejects.toThrow(refused);
    await expect(dial('gw-1', 'wrong', gw1), 'right certificate, wrong password').rejects.toThrow(refused);
    const ok = await dial('gw-1', 'pw-1', gw1);
    closers.push(() => ok.endAsync(true));
    expect(ok.connected).toBe(true);

    // the edge's link client presents it too
    const edge = openLinkClient({
      url: link.url,
      clientId: 'edgetwin-edge-gw-2',
      username: 'gw-2',
      password: 'pw-2',
      ca: server.cert,
      clientCert: ca.issue('gw-2'),
      clean: false,
      logger: pino({ level: 'silent' }),
    });
    closers.push(() => edge.close());
    await new Promise<void>((resolve) => edge.onConnect(() => resolve()));
    expect(edge.connected).toBe(true);
  });

  it('refuses client certificates without TLS on the link', async () => {
    await expect(
      startCloudLink({
        desired: new FakeDesired(),
        status: new FakeStatus(),
        broker: { embedded: { port: 0, clientCa: 'x' } },
        nodeCredentials: { 'gw-1': 'pw-1' },
      }),
    ).rejects.toThrow(/client certificates .* need TLS on the link/);
  });
});
