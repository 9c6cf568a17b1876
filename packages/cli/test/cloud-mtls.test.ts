// Issue 10 §1, end to end as the commands wire it: `edgetwin cloud --client-ca` and `edgetwin edge
// --cloud-cert/--cloud-key`. A registered node with its certificate joins with its one-time token through
// the pinned TLS link; a registered node without a certificate is refused (the cloud logs why).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issueCertificate } from '@edgetwin/device-controller/cloud-link/link-tls';
import { waitUntil } from '@edgetwin/eventbus/testing';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Lifecycle } from '../src/compose/lifecycle.js';
import { startCloud } from '../src/compose/start-cloud.js';
import { startEdge } from '../src/compose/start-edge.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'edgetwin-mtls-'));
  cleanups.push(() => rm(d, { recursive: true, force: true }));
  return d;
}

const DAY = 24 * 3600 * 1000;

describe('cloud link with client certificates (cloud --client-ca, edge --cloud-cert)', () => {
  it('a node with its certificate joins; one without is refused', async () => {
    const ca = issueCertificate({
      commonName: 'plant nodes CA',
      validMs: DAY,
      extensions: [
        { name: 'basicConstraints', cA: true },
        { name: 'keyUsage', keyCertSign: true },
      ],
    });
    const clientCert = (cn: string) =>
      issueCertificate({
        commonName: cn,
        validMs: DAY,
        issuer: ca,
        extensions: [{ name: 'extKeyUsage', clientAuth: true }],
      });
    const refusals: string[] = [];
    const cloudLog = pino({ level: 'warn' }, { write: (s: string) => void refusals.push(s) });
    const life = new Lifecycle(pino({ level: 'silent' }));
    cleanups.push(() => life.stopAll());
    const cloud = await startCloud(
      {
        source: 'embedded',
        dataDir: await tempDir(),
        httpHost: '127.0.0.1',
        httpPort: 0,
        mqttHost: '127.0.0.1',
        mqttPort: 0,
        clientCa: ca.cert,
        logger: cloudLog,
      },
      life,
    );
    const edge = async (node: string, cert?: { cert: string; key: string }) =>
      startEdge(
        {
          node,
          dataDir: await tempDir(),
          cloudUrl: cloud.linkUrl,
          joinToken: cloud.nodes!.add(node),
          ...(cert ? { cloudClientCert: cert } : {}),
          mqttHost: '127.0.0.1',
          mqttPort: 0,
          mappers: [],
          logger: pino({ level: 'silent' }),
        },
        life,
      );
    await edge('gw-1', clientCert('gw-1'));
    await edge('gw-2');
    await waitUntil(
      () => cloud.nodes!.list().some((n) => n.name === 'gw-1' && n.joined),
      'gw-1 joined with its certificate',
      20_000,
    );
    await waitUntil(
      () => refusals.some((l) => l.includes('"reason":"client-certificate"')),
      'the cloud refusing gw-2 for its missing certificate',
      20_000,
    );
    expect(cloud.nodes!.list().find((n) => n.name === 'gw-2')?.joined).toBe(false);
  });
});
