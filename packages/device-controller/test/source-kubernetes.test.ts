// The Source contract (source-suite.ts) on a real kube-apiserver + etcd (issue 14), through the RBAC of
// deploy/kubernetes: each test in its own namespace, objects changed with kubectl as a user does. What only
// a scripted server can produce (exact request parameters, failures on cue) stays in
// kubernetes-source.test.ts, on the fake API server.
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll } from 'vitest';
import YAML from 'yaml';
import type { Source } from '../src/source.js';
import { KubernetesSource } from '../src/sources/kubernetes/source.js';
import { KubeCluster } from './kube-cluster.js';
import { sourceSuite } from './source-suite.js';

let kube: KubeCluster;
beforeAll(async () => {
  kube = await KubeCluster.start();
  await kube.installEdgetwin();
}, 180_000);
afterAll(async () => {
  await kube?.stop();
});

let n = 0;
sourceSuite('Kubernetes (kube-apiserver)', async () => {
  const namespace = `suite-${++n}`;
  await kube.kubectlOk(['create', 'namespace', namespace]);
  let current: Source | undefined;
  return {
    namespace,
    async newSource() {
      await current?.stop();
      const kc = new KubeConfig();
      kc.loadFromFile(kube.controllerKubeconfig);
      current = new KubernetesSource({ kubeConfig: kc, namespace, retryMs: 100 });
      return current;
    },
    async put(...objects) {
      await kube.kubectlOk(['apply', '-n', namespace, '-f', '-'], {
        input: objects.map((o) => YAML.stringify(o)).join('---\n'),
      });
    },
    async remove(kind, name) {
      await kube.kubectlOk(['delete', '-n', namespace, kind.toLowerCase(), name]);
    },
    async close() {
      await current?.stop();
      await kube.kubectlOk(['delete', 'namespace', namespace, '--wait=false']);
    },
  };
});
