// `edgetwin probe onvif` (issue 13): finds ONVIF cameras by WS-Discovery (unicast to --target, multicast on
// the LAN only without it), lists them, and with -o yaml writes a DeviceModel + one Device per camera.
// Registered by ../probe.ts; the protocol work is in @edgetwin/mappers/drivers/onvif/probe.
import type { Command } from 'commander';
import { stringify } from 'yaml';
import type { ProbeCommand } from '../probe.js';
import { exitFlushed as exit, table } from './output.js';

function parseTarget(v: string): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(v.trim());
  const host = m?.[1];
  const port = Number(m?.[2]);
  if (!host || port < 1 || port > 65535) throw new Error(`--target ${v}: expected host:port (e.g. 192.168.1.64:3702)`);
  return { host, port };
}

export const probeOnvif: ProbeCommand = (probe: Command, program: Command): void => {
  probe
    .command('onvif')
    .description('find ONVIF cameras by WS-Discovery (multicast on the LAN, or unicast to --target) and list them')
    .option('--target <host:port>', "one camera's WS-Discovery address (unicast; no multicast is sent)")
    .option('--timeout <ms>', 'how long to wait for answers (and each SOAP call)', (v) => Number.parseInt(v, 10), 3000)
    .option('--user <name>', 'ONVIF user: also ask each camera for its identity, profiles and stream URI')
    .option('--password-file <file>', 'a file holding that user’s password (one trailing newline is dropped)')
    .option('-o, --output <format>', '"yaml": a DeviceModel + one Device per camera')
    .option('--name <prefix>', 'device name prefix in the manifests', 'camera')
    .option('--node <node>', 'nodeName in the manifests', 'edge-node-1')
    .action(async (o) => {
      if (o.output !== undefined && o.output !== 'yaml')
        program.error(`-o ${o.output}: only "yaml" is supported`, { exitCode: 2 });
      if ((o.user === undefined) !== (o.passwordFile === undefined))
        program.error('--user and --password-file go together (the password is never given on the command line)', {
          exitCode: 2,
        });
      let target: { host: string; port: number } | undefined;
      try {
        target = o.target === undefined ? undefined : parseTarget(o.target as string);
      } catch (e) {
        program.error((e as Error).message, { exitCode: 2 });
      }
      const { describeCamera, discoverCameras, onvifManifests } = await import('@edgetwin/mappers/drivers/onvif/probe');
      const { readPasswordFile } = await import('@edgetwin/mappers/drivers/onvif/index');
      try {
        const cred = o.user
          ? { userName: o.user as string, password: readPasswordFile(o.passwordFile as string) }
          : undefined;
        const cams = await discoverCameras({ ...(target ? { target } : {}), timeoutMs: o.timeout as number });
        if (cred) for (const c of cams) await describeCamera(c, cred, o.timeout as number);
        if (o.output === 'yaml') {
          if (cams.length === 0) throw new Error('no ONVIF camera answered: no manifests written');
          const docs = onvifManifests(cams, {
            node: o.node as string,
            namePrefix: o.name as string,
            ...(o.user ? { userName: o.user as string } : {}),
            passwordFile: (o.passwordFile as string | undefined) ?? '/etc/secret/password',
          });
          process.stdout.write(docs.map((d) => stringify(d)).join('---\n'));
          return await exit(0);
        }
        if (cams.length === 0) {
          process.stdout.write(`no ONVIF camera answered within ${o.timeout} ms\n`);
          return await exit(0);
        }
        const rows = cams.map((c) => [
          c.address,
          c.name ?? '',
          c.info ? `${c.info.manufacturer} ${c.info.model}`.trim() : (c.hardware ?? ''),
          c.info?.serialNumber ?? '',
          c.profiles
            ? c.profiles
                .map((p) => `${p.token}${p.width ? ` ${p.width}x${p.height}` : ''}${p.ptz ? ' ptz' : ''}`)
                .join(', ')
            : '',
          c.streamUri ?? c.error ?? '',
        ]);
        process.stdout.write(`${table(['ADDRESS', 'NAME', 'MODEL', 'SERIAL', 'PROFILES', 'STREAM'], rows)}\n`);
        return await exit(0);
      } catch (e) {
        process.stderr.write(`edgetwin probe onvif: ${(e as Error).message}\n`);
        return await exit(1);
      }
    });
};
