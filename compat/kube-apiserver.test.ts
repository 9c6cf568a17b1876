// Compatibility tier on a real kube-apiserver (issue 14): KubeEdge's own v1beta1 samples apply unchanged to
// our CRDs, client-side and server-side (their counter sample has an empty `configData:`, a null, which
// needs `nullable`); and the controller works on KubeEdge's own CRDs, which have no status subresource:
// status is patched on the objects, said once in the log, and the RBAC of deploy/kubernetes allows it.

import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeConfig } from '@kubernetes/client-node';
import { CONTROLLER_USER, KubeCluster } from '../packages/device-controller/test/kube-cluster.js';
import { twinReport, waitFor } from '../packages/device-controller/test/support.js';
import { KubernetesSource } from '../packages/device-controller/src/sources/kubernetes/source.js';
import { StatusCoalescer } from '../packages/device-controller/src/status/coalescer.js';
import { locateKubeedgeFixtures } from './kubeedge-fixtures.js';

const fixtures = locateKubeedgeFixtures();

if (fixtures.skip !== undefined) {
  it.skip(fixtures.skip, () => {});
} else {
  const samples = join(fixtures.dir, 'samples');
  const theirCrds = join(fixtures.dir, 'crds');
  let kube: KubeCluster;
  beforeAll(async () => {
    kube = await KubeCluster.start({ audit: true });
    await kube.installEdgetwin();
  }, 180_000);
  afterAll(async () => {
    await kube?.stop();
  });

  describe("KubeEdge's samples and CRDs on kube-apiserver", () => {
    it('apply to our CRDs unchanged, with kubectl apply and with kubectl apply --server-side', async () => {
      // the files name the default namespace
      expect(await kube.kubectlOk(['apply', '-f', samples])).toMatch(/counter-instance created/);
      await kube.kubectlOk(['delete', '-f', samples]);
      // server-side apply refuses a null (the counter's empty configData:) unless the field is nullable
      expect(await kube.kubectlOk(['apply', '--server-side', '-f', samples])).toMatch(
        /counter-instance serverside-applied/,
      );
      expect(await kube.kubectlOk(['get', 'devices', '-o', 'name'])).toBe(
        'device.devices.kubeedge.io/counter-instance\ndevice.devices.kubeedge.io/temperature-instance\n',
      );
    });

    it("the controller writes status on KubeEdge's CRDs (no status subresource), saying so once", async () => {
      await kube.kubectlOk(['delete', '-f', samples]);
      await kube.kubectlOk(['replace', '-f', theirCrds]);
      await kube.kubectlOk(['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
      await kube.kubectlOk(['apply', '-f', samples]);
      const lines: string[] = [];
      const kc = new KubeConfig();
      kc.loadFromFile(kube.controllerKubeconfig);
      const source = new KubernetesSource({
        kubeConfig: kc,
        logger: pino({ level: 'info' }, { write: (l: string) => lines.push(l) }),
      });
      await source.start();
      const sink = new StatusCoalescer(source, { statusIntervalMs: 0 });
      try {
        await waitFor(() => source.devices().length === 2, 'both sample devices in the cache', 10_000);
        // both devices at once, several times: every write meets the 404 of /status
        for (let i = 0; i < 3; i++) {
          await Promise.all([
            sink.applyReports('kind-worker', [twinReport('default/counter-instance', 'count', String(i))]),
            sink.applyReports('kind-worker', [twinReport('default/temperature-instance', 'temperature', String(i))]),
          ]);
        }
      } finally {
        sink.stop();
        await source.stop();
      }
      const ds = JSON.parse(await kube.kubectlOk(['get', 'devicestatus', 'counter-instance', '-o', 'json']));
      expect(ds.status.twins[0]).toMatchObject({ propertyName: 'count', reported: { value: '2' } });
      const dev = JSON.parse(await kube.kubectlOk(['get', 'device', 'temperature-instance', '-o', 'json']));
      expect(dev.status.twins[0]).toMatchObject({ propertyName: 'temperature', reported: { value: '2' } });
      const said = lines.filter((l) => l.includes('no status subresource'));
      expect(said).toHaveLength(2);
      // what the RBAC grants for this case (see packages/device-controller/test/kube-controller.test.ts)
      const reqs = kube.requests(CONTROLLER_USER);
      expect(kube.refusals()).toEqual([]);
      const used = new Set(reqs.map((r) => `${r.resource}${r.subresource ? `/${r.subresource}` : ''}:${r.verb}`));
      for (const v of ['devices:get', 'devicestatuses:get', 'devicestatuses:patch', 'devices:patch'])
        expect(used, v).toContain(v);
    });
  });
}
