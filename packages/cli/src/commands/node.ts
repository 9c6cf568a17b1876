// edgetwin node add|remove|list: who may connect to the cloud link (issue 10 §1, docs/security.md).
// `add` prints the one-time join token the edge starts with (`edgetwin edge --token-file`); `remove`
// revokes a node and closes its session at once.
import { writeSecretFile } from '@edgetwin/api/secret-file';
import { controllerClient, runCommand, withConnectionOptions } from '@edgetwin/device-controller/cli/common';
import type { Command } from 'commander';
import type { RegisterCommand } from './index.js';

type Conn = { server?: string; dataDir?: string };

export const registerNode: RegisterCommand = (program: Command) => {
  const node = program.command('node').description('register, list and remove edge nodes of the cloud link');
  withConnectionOptions(
    node
      .command('add')
      .description('register a node and print its one-time join token')
      .argument('<name>', 'the node name (Device spec.nodeName)')
      .option('--rejoin', 'the node exists: issue a new token and revoke its current credential')
      .option('--ttl <hours>', 'hours the token stays usable (default 24)')
      .option('--token-file <file>', 'write the token to this file (mode 0600) instead of printing it'),
  ).action((name: string, opts: Conn & { rejoin?: boolean; ttl?: string; tokenFile?: string }) =>
    runCommand(async () => {
      const hours = opts.ttl === undefined ? undefined : Number(opts.ttl);
      if (hours !== undefined && !(hours > 0)) throw new Error(`--ttl ${opts.ttl}: expected a number of hours > 0`);
      const added = await controllerClient(opts).addNode(name, {
        ...(opts.rejoin ? { rejoin: true } : {}),
        ...(hours !== undefined ? { ttlSeconds: hours * 3600 } : {}),
      });
      const cloud = added.linkUrl ?? '<cloud-link URL>';
      if (opts.tokenFile) {
        writeSecretFile(opts.tokenFile, `${added.token}\n`);
        console.error(
          `node ${name} registered; join token (usable once, until ${added.expiresAt}) in ${opts.tokenFile}`,
        );
      } else {
        console.error(`node ${name} registered; its join token, usable once, until ${added.expiresAt}:`);
        console.log(added.token);
      }
      console.error(
        `On the node: put the token in a file (mode 0600) and run\n  edgetwin edge --node ${name} --cloud ${cloud} --token-file FILE\n(or set EDGETWIN_JOIN_TOKEN). Never pass it on the command line.`,
      );
    }),
  );
  withConnectionOptions(
    node
      .command('remove')
      .description('revoke a node: its credential stops working and its session is closed at once')
      .argument('<name>', 'the node name'),
  ).action((name: string, opts: Conn) =>
    runCommand(async () => {
      await controllerClient(opts).removeNode(name);
      console.log(`node ${name} removed; its cloud-link session is closed`);
    }),
  );
  withConnectionOptions(node.command('list').description('the registered nodes and whether they have joined')).action(
    (opts: Conn) =>
      runCommand(async () => {
        const items = await controllerClient(opts).identities();
        if (items.length === 0) return console.error('No nodes registered (edgetwin node add NAME).');
        const rows = items.map((i) => [
          i.name,
          i.joined ? `joined ${i.joinedAt}` : `waiting for join (token until ${i.joinExpiresAt})`,
        ]);
        const w = Math.max(4, ...rows.map((r) => r[0]!.length));
        console.log(`${'NAME'.padEnd(w)}  IDENTITY`);
        for (const [n, s] of rows) console.log(`${n!.padEnd(w)}  ${s}`);
      }),
  );
};
