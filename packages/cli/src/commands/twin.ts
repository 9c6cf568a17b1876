// edgetwin twin set DEVICE PROPERTY=VALUE: sets spec.properties[].desired.value in the cloud store. It is
// an ordinary spec change: it flows down to the edge, the twin and the mapper like any other.
import { ControllerError } from '@edgetwin/device-controller/http/client';
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

export const registerTwin: RegisterCommand = (program: Command) => {
  const twin = program.command('twin').description('work with device twins through the controller');
  withConnectionOptions(
    twin
      .command('set')
      .description('set the desired value of a device property (checked against its model: type, bounds, ReadOnly)')
      .argument('<device>', 'NAME or NAMESPACE/NAME')
      .argument('<assignments...>', 'PROPERTY=VALUE (one or more)')
      .option('-n, --namespace <ns>', 'namespace (default: default)'),
  ).action(
    (deviceArg: string, assignments: string[], opts: { namespace?: string; server?: string; dataDir?: string }) =>
      runCommand(async () => {
        const { namespace, name } = parseName(deviceArg, opts.namespace);
        const pairs = assignments.map(parseAssignment);
        const client = controllerClient(opts);
        for (const { property, value } of pairs) {
          try {
            const { result } = await client.setDesired(namespace, name, property, value);
            // The same value again is still a new command: it overrides a value an edge app set locally.
            const note = result.reasserted ? 'same value, re-sent as a new command; ' : '';
            console.log(
              `device ${namespace}/${name}: ${property} desired = ${value} (${note}resourceVersion ${result.resourceVersion})`,
            );
          } catch (e) {
            if (e instanceof ControllerError && e.status === 404)
              throw new Error(`device ${namespace}/${name} not found`);
            throw e;
          }
        }
      }),
  );
};
