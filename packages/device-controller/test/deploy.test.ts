// The deploy/ files stay true to the code: the ClusterRole allows every request the Kubernetes source
// makes, and the Deployment and systemd units call commands and options the CLI really has.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { Command } from 'commander';
import { afterEach, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { commandsFor } from '../../cli/src/commands/index.js';
import { KubernetesSource } from '../src/sources/kubernetes/source.js';
import { StatusCoalescer } from '../src/status/coalescer.js';
import { FakeApiServer } from './fake-apiserver.js';
import { device, model, twinReport } from './support.js';

const DEPLOY = fileURLToPath(new URL('../../../deploy/', import.meta.url));
const docs = (file: string) => YAML.parseAllDocuments(readFileSync(DEPLOY + file, 'utf8')).map((d) => d.toJS());

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

function allowed(rules: Rule[], resource: string, verb: string): boolean {
  return rules.some(
    (r) => r.apiGroups.includes('devices.kubeedge.io') && r.resources.includes(resource) && r.verbs.includes(verb),
  );
}

/** The RBAC (resource, verb) of a request, as the API server's authorizer sees it. */
function rbacOf(method: string, path: string, query: Record<string, string>): [string, string] {
  const m = path.match(/\/(devices|devicemodels|devicestatuses)(?:\/([^/]+))?(\/status)?$/)!;
  const resource = m[1] + (m[3] ? '/status' : '');
  if (method === 'GET') return [resource, m[2] ? 'get' : query.watch ? 'watch' : 'list'];
  if (method === 'POST') return [resource, 'create'];
  return [resource, method.toLowerCase()];
}

describe('deploy/', () => {
  let api: FakeApiServer | undefined;
  afterEach(async () => {
    await api?.stop();
  });

  it('the ClusterRole allows every request the Kubernetes source makes, with our CRDs and with KubeEdge’s', async () => {
    const rules = docs('kubernetes/rbac.yaml').find((d) => d.kind === 'ClusterRole').rules as Rule[];
    for (const withSubresource of [true, false]) {
      api = new FakeApiServer();
      await api.start();
      if (!withSubresource) api.statusSubresource.clear();
      api.put('devicemodels', model('m') as never);
      api.put('devices', device('d', 'n1', 'm') as never);
      const kc = new KubeConfig();
      kc.loadFromOptions(api.kubeconfig());
      const source = new KubernetesSource({ kubeConfig: kc });
      await source.start();
      const sink = new StatusCoalescer(source, { statusIntervalMs: 0 });
      await sink.applyReports('n1', [twinReport('default/d', 'temp', '1')]);
      await source.readStatus(source.device('default', 'd')!);
      // the object as the server has it now (the status patches moved its resourceVersion)
      await source.setDesired(api.get('devices', 'default', 'd') as never, [{ index: 0, value: '1' }]);
      sink.stop();
      await source.stop();
      const needed = new Set(api.requests.map((r) => rbacOf(r.method, r.path, r.query).join(' ')));
      for (const pair of needed) {
        const [resource, verb] = pair.split(' ') as [string, string];
        expect(allowed(rules, resource, verb), `ClusterRole must allow ${verb} ${resource}`).toBe(true);
      }
      await api.stop();
      api = undefined;
    }
  });

  it('the Deployment runs `edgetwin cloud` with options it has, as the ServiceAccount the RBAC binds', async () => {
    const program = new Command();
    for (const register of await commandsFor([])) register(program);
    const optionsOf = (name: string) =>
      new Set(program.commands.find((c) => c.name() === name)?.options.map((o) => o.long) ?? []);

    const objects = docs('kubernetes/controller.yaml');
    const deployment = objects.find((o) => o.kind === 'Deployment');
    const binding = docs('kubernetes/rbac.yaml').find((d) => d.kind === 'ClusterRoleBinding');
    expect(deployment.spec.template.spec.serviceAccountName).toBe(binding.subjects[0].name);
    const [cmd, ...args] = deployment.spec.template.spec.containers[0].args as string[];
    expect(cmd).toBe('cloud');
    const cloud = optionsOf('cloud');
    for (const a of args) expect(cloud.has(a.split('=')[0]), `edgetwin cloud has ${a}`).toBe(true);

    // two replicas with leader election; what edges need from either (node identities, the link certificate)
    // is in Secrets the RBAC lets the controller keep in its own namespace, so the data dir is per pod
    expect(deployment.spec.replicas).toBe(2);
    expect(args).toContain('--leader-elect');
    const dataDir = args.find((a) => a.startsWith('--data-dir='))!.split('=')[1];
    const pod = deployment.spec.template.spec;
    const mount = pod.containers[0].volumeMounts.find((m: { mountPath: string }) => m.mountPath === dataDir);
    expect(pod.volumes.find((v: { name: string }) => v.name === mount.name).emptyDir).toBeDefined();
    const rbac = docs('kubernetes/rbac.yaml');
    const identities = rbac.find((d) => d.kind === 'Role' && d.metadata.name === 'edgetwin-controller-identities');
    expect(identities.metadata.namespace).toBe(deployment.metadata.namespace);
    expect(
      rbac.find((d) => d.kind === 'RoleBinding' && d.roleRef.name === identities.metadata.name).subjects[0].name,
    ).toBe(pod.serviceAccountName);

    for (const unit of ['edgetwin-edge.service', 'edgetwin-mapper@.service']) {
      const text = readFileSync(`${DEPLOY}systemd/${unit}`, 'utf8').replace(/\\\n\s*/g, '');
      const exec = text.match(/^ExecStart=\S+ \S+edgetwin\.js (\S+)(.*)$/m)!;
      const opts = optionsOf(exec[1]!);
      expect(opts.size, `edgetwin ${exec[1]} exists`).toBeGreaterThan(0);
      for (const flag of exec[2]!.match(/--[a-z-]+/g) ?? [])
        expect(opts.has(flag), `${unit}: ${exec[1]} ${flag}`).toBe(true);
    }
  });
});
