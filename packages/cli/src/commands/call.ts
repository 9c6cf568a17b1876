// edgetwin call DEVICE METHOD PROPERTY=VALUE...: calls a device method (spec.methods, issue 17) through the
// controller. Each value becomes its property's desired value, the route of `twin set`, so it goes through
// the model's checks, the twin and the mapper's write reconciler like any desired value.
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
import { parseAssignment } from './twin.js';

export const registerCall: RegisterCommand = (program: Command) => {
  withConnectionOptions(
    program
      .command('call')
      .description('call a device method: set each property it writes (checked against the method and the model)')
      .argument('<device>', 'NAME or NAMESPACE/NAME')
      .argument('<method>', 'a method of the device (spec.methods[].name)')
      .argument('<assignments...>', 'PROPERTY=VALUE, one or more of the properties the method writes')
      .option('-n, --namespace <ns>', 'namespace (default: default)'),
  ).action(
    (
      deviceArg: string,
      method: string,
      assignments: string[],
      opts: { namespace?: string; server?: string; dataDir?: string },
    ) =>
      runCommand(async () => {
        const { namespace, name } = parseName(deviceArg, opts.namespace);
        const values: Record<string, string> = {};
        for (const { property, value } of assignments.map(parseAssignment)) {
          if (property in values) throw new UsageError(`${property} is given twice`);
          values[property] = value;
        }
        try {
          const { results } = await controllerClient(opts).callMethod(namespace, name, method, values);
          for (const r of results)
            console.log(`device ${namespace}/${name}: ${method}: desired set (resourceVersion ${r.resourceVersion})`);
          for (const [property, value] of Object.entries(values)) console.log(`  ${property} = ${value}`);
        } catch (e) {
          if (e instanceof ControllerError && e.status === 404) throw new Error(e.message);
          throw e;
        }
      }),
  );
};
