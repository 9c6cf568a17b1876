// Issue 10 §2: TLS on the cloud link. The embedded broker serves a certificate generated on first start
// (kept, key 0600); the join token pins its fingerprint; an edge accepts exactly that certificate and
// refuses any other before sending a credential. A client trusting another CA is refused; the controller
// reaches an external Mosquitto over mqtts:// with the CA given (and not without).

import { mkdtemp, rm } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJoinToken, joinPassword } from '@edgetwin/api/join-token';
import { fetchPinnedCert, PinMismatchError } from '@edgetwin/devicetwin/cloud-link/pinned-cert';
import { selfSignedCert, startMosquitto } from '@edgetwin/eventbus/testing';
import { openLinkClient } from '@edgetwin/eventbus/link-client';
import mqtt from 'mqtt';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { NodeRegistry, startCloudLink } from '../src/cloud-link/index.js';
import { generateLinkCert, loadOrCreateLinkTls } from '../src/cloud-link/link-tls.js';
import { FakeDesired, FakeStatus } from './cloud-link-support.js';

const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

async function tlsWorld() {
  const dir = await mkdtemp(join(tmpdir(), 'edgetwin-linktls-'));
  closers.push(() => rm(dir, { recursive: true, force: true }));
  const tls = loadOrCreateLinkTls({ dataDir: dir });
  const nodes = new NodeRegistry();
  closers.push(() => nodes.close());
  const link = await startCloudLink({
    desired: new FakeDesired(),
    status: new FakeStatus(),
    broker: { embedded: { port: 0, tls: { cert: tls.cert, key: tls.key } } },
    nodeRegistry: nodes,
  });
  closers.push(() => link.close());
  return { dir, tls, nodes, link };
}

describe('cloud link TLS', () => {
  it('generates its certificate once (key 0600), serves mqtts:// and keeps the same certificate on restart', async () => {
    const { dir, tls, link } = await tlsWorld();
    expect(link.url).toMatch(/^mqtts:\/\/127\.0\.0\.1:\d+$/);
    expect(tls.created).toBe(true);
    expect(statSync(join(dir, 'link-tls', 'key.pem')).mode & 0o777).toBe(0o600);
    const again = loadOrCreateLinkTls({ dataDir: dir });
    expect(again.created).toBe(false);
    expect(again.fingerprint).toBe(tls.fingerprint);
  });

  it('an edge takes the certificate the token pins and joins with it; another certificate is refused before any credential', async () => {
    const { tls, nodes, link } = await tlsWorld();
    const token = decodeJoinToken(nodes.add('gw-1', { fingerprint: tls.fingerprint }));
    expect(token.fingerprint).toBe(tls.fingerprint);
    const pem = await fetchPinnedCert(link.url, token.fingerprint!);
    const c = openLinkClient({
      url: link.url,
      clientId: 'edgetwin-edge-gw-1',
      username: 'gw-1',
      password: joinPassword(token.secret, 'cred-1'),
      ca: pem,
      pinnedFingerprint: token.fingerprint!,
      clean: false,
      logger: pino({ level: 'silent' }),
    });
    closers.push(() => c.close());
    await new Promise<void>((r) => c.onConnect(() => r()));
    expect(c.connected).toBe(true);

    // a token pinning some other certificate: the edge refuses this server
    const other = generateLinkCert(['localhost']);
    const { X509Certificate } = await import('node:crypto');
    const otherFp = new X509Certificate(other.cert).fingerprint256;
    await expect(fetchPinnedCert(link.url, otherFp)).rejects.toBeInstanceOf(PinMismatchError);
    // and plain mqtt:// with a pinned token is refused with a clear message
    await expect(fetchPinnedCert(link.url.replace('mqtts:', 'mqtt:'), otherFp)).rejects.toThrow(/use mqtts:\/\//);
  });

  it('refuses a client that trusts another CA, and accepts one with the right CA', async () => {
    const { tls, nodes, link } = await tlsWorld();
    const { secret } = decodeJoinToken(nodes.add('gw-1'));
    const other = generateLinkCert(['127.0.0.1', 'localhost']);
    const opts = (ca: string) => ({
      username: 'gw-1',
      password: joinPassword(secret, 'cred'),
      clientId: 'edgetwin-edge-gw-1',
      ca,
      rejectUnauthorized: true,
      reconnectPeriod: 0,
    });
    await expect(mqtt.connectAsync(link.url, opts(other.cert))).rejects.toThrow(/self.signed|certificate/i);
    const ok = await mqtt.connectAsync(link.url, opts(tls.cert));
    closers.push(() => ok.endAsync(true));
    expect(ok.connected).toBe(true);
  });
});

describe('cloud link on an external broker over mqtts://', () => {
  it('connects to Mosquitto with its CA, and a client with another CA is refused', async (ctx) => {
    const cert = await selfSignedCert();
    if (!cert) return ctx.skip(); // openssl missing: no certificate for Mosquitto
    const users = { 'edgetwin-controller': 'controller-secret' };
    const broker = await startMosquitto({ users, tls: cert, extraConfig: ['use_username_as_clientid true'] });
    closers.push(() => broker.stop());
    expect(broker.url).toMatch(/^mqtts:/);
    const link = await startCloudLink({
      desired: new FakeDesired(),
      status: new FakeStatus(),
      broker: {
        url: broker.url,
        username: 'edgetwin-controller',
        password: users['edgetwin-controller'],
        ca: cert.cert,
      },
    });
    closers.push(() => link.close());
    await link.idle();
    const wrong = generateLinkCert(['127.0.0.1']);
    await expect(
      mqtt.connectAsync(broker.url, {
        username: 'edgetwin-controller',
        password: users['edgetwin-controller'],
        ca: wrong.cert,
        rejectUnauthorized: true,
        reconnectPeriod: 0,
      }),
    ).rejects.toThrow(/self.signed|certificate/i);
  });
});
