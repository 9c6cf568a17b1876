// edgetwin twin set DEVICE PROPERTY=VALUE: sets spec.properties[].desired.value in the cloud store. It is
// an ordinary spec change: it flows down to the edge, the twin and the mapper like any other.
import { type ControllerClient, ControllerError } from '@edgetwin/device-controller/http/client';
import { exampleValue } from '@edgetwin/device-controller/cli/present';
import {
  controllerClient,
  parseName,
  runCommand,
  UsageError,
  withConnectionOptions,
} from '@edgetwin/device-controller/cli/common';
import type { Command } from 'commander';
import type { RegisterCommand } from './index.js';

export function parseAssignment(arg: string): { property: string; value: string } {
  const eq = arg.indexOf('=');
  if (eq <= 0) throw new UsageError(`"${arg}": expected PROPERTY=VALUE (e.g. setpoint=21.5)`);
  return { property: arg.slice(0, eq), value: arg.slice(eq + 1) };
}

/**
 * The usage hint for an argument without `=`, with a value of the property's type (issue 16 §3): from the
 * device's model when the controller answers, else the generic one.
 */
async function assignmentHint(client: ControllerClient, namespace: string, name: string, arg: string): Promise<string> {
  const generic = `"${arg}": expected PROPERTY=VALUE (e.g. setpoint=21.5)`;
  try {
    const { device, model } = await client.device(namespace, name);
    const props = (model?.spec.properties ?? []).filter((p) => p.accessMode !== 'ReadOnly');
    const mp = props.find((p) => p.name === arg) ?? (arg.includes('=') ? undefined : props[0]);
    if (!mp) return generic;
    const current = device.status?.twins?.find((t) => t.propertyName === mp.name)?.reported?.value;
    return `"${arg}": expected PROPERTY=VALUE (e.g. ${mp.name}=${exampleValue(mp, current)}, a ${mp.type ?? 'STRING'})`;
  } catch {
    return generic;
  }
}

export const registerTwin: RegisterCommand = (program: Command) => {
  const twin = program.command('twin').description('work with device twins through the controller');
  withConnectionOptions(
    twin
      .command('set')
      .description(
        'set desired values of device properties, all in one write or none (each checked against the model: type, bounds, ReadOnly)',
      )
      .argument('<device>', 'NAME or NAMESPACE/NAME')
      .argument('<assignments...>', 'PROPERTY=VALUE (one or more)')
      .option('-n, --namespace <ns>', 'namespace (default: default)'),
  ).action(
    (deviceArg: string, assignments: string[], opts: { namespace?: string; server?: string; dataDir?: string }) =>
      runCommand(async () => {
        const { namespace, name } = parseName(deviceArg, opts.namespace);
        const client = controllerClient(opts);
        const bare = assignments.find((a) => a.indexOf('=') <= 0);
        if (bare !== undefined) throw new UsageError(await assignmentHint(client, namespace, name, bare));
        const values: Record<string, string> = {};
        for (const { property, value } of assignments.map(parseAssignment)) {
          if (Object.hasOwn(values, property)) throw new UsageError(`${property} is assigned twice`);
          values[property] = value;
        }
        // One request, one write: every value is checked first and all are set, or none (issue 9 §5).
        let results: Awaited<ReturnType<typeof client.setDesiredValues>>['results'];
        try {
          ({ results } = await client.setDesiredValues(namespace, name, values));
        } catch (e) {
          if (e instanceof ControllerError && e.status === 404 && e.findings.some((f) => f.endsWith(': -: not found')))
            throw new Error(`device ${namespace}/${name} not found`);
          throw e;
        }
        for (const r of results) {
          // The same value again is still a new command: it overrides a value an edge app set locally.
          const note = r.reasserted ? 'same value, re-sent as a new command; ' : '';
          console.log(
            `device ${namespace}/${name}: ${r.property} desired = ${values[r.property]} (${note}resourceVersion ${r.resourceVersion})`,
          );
        }
        if (results.length > 1) console.log(`${results.length} values set in one write`);
      }),
  );
};
