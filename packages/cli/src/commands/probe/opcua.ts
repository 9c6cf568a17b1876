// `edgetwin probe opcua URL` (issue 11): browse an OPC-UA server and print its variables (NodeId, browse
// path, DataType, access, range/unit, value), or with `-o yaml` a DeviceModel + Device manifest for them.
// The connection flags are the protocol configData keys of docs/opcua.md, checked by the driver's own
// config.ts, and the manifest carries them as given. Registered by ../probe.ts.
import type { Command } from 'commander';
import pino from 'pino';
import { stringify } from 'yaml';
import { parseNodeName } from '../../compose/options.js';
import type { ProbeCommand } from '../probe.js';
import { exitFlushed, table } from './output.js';

/** flag (commander's camelCase) -> protocol configData key */
const CONFIG_FLAGS: Array<[option: string, key: string, flag: string]> = [
  ['securityMode', 'securityMode', '--security-mode'],
  ['securityPolicy', 'securityPolicy', '--security-policy'],
  ['user', 'userName', '--user'],
  ['passwordFile', 'password', '--password-file'],
  ['userCertificate', 'userCertificate', '--user-certificate'],
  ['userKey', 'userPrivateKey', '--user-key'],
  ['certificate', 'certificate', '--certificate'],
  ['privateKey', 'privateKey', '--private-key'],
  ['serverCertificate', 'remoteCertificate', '--server-certificate'],
  ['trustFolder', 'trustFolder', '--trust-folder'],
  ['trustOnFirstUse', 'trustOnFirstUse', '--trust-on-first-use'],
  ['timeout', 'timeout', '--timeout'],
];

const int = (v: string) => Number.parseInt(v, 10);

export const probeOpcua: ProbeCommand = (probe: Command, program: Command): void => {
  probe
    .command('opcua <url>')
    .description(
      "browse an OPC-UA server's variables (NodeId, browse path, DataType, access); -o yaml writes a DeviceModel + Device",
    )
    .option('--filter <pattern>', 'only variables whose browse path or NodeId matches (* and ?; else a substring)')
    .option('-o, --output <format>', '"yaml": a DeviceModel + Device manifest for the variables shown')
    .option('--name <name>', 'device name in the manifest', 'opcua-device')
    .option('--node <node>', 'nodeName in the manifest', parseNodeName, 'edge-node-1')
    .option('--security-mode <mode>', 'None, Sign or SignAndEncrypt (configData securityMode)')
    .option('--security-policy <policy>', 'Basic256Sha256, Aes128_Sha256_RsaOaep, Aes256_Sha256_RsaPss')
    .option('--user <name>', 'user name (configData userName)')
    .option('--password-file <file>', "a file holding the user's password (configData password)")
    .option('--user-certificate <file>', 'X.509 user identity certificate (with --user-key)')
    .option('--user-key <file>', 'its PEM private key')
    .option('--certificate <file>', 'the client application certificate (default: the mapper data dir one)')
    .option('--private-key <file>', 'its private key')
    .option('--server-certificate <file>', 'the server certificate, pinned (configData remoteCertificate)')
    .option('--trust-folder <dir>', 'a folder of trusted server certificates')
    .option('--trust-on-first-use', 'trust the certificate first seen from this URL (its fingerprint is logged)')
    .option('--timeout <ms>', 'connect and request timeout', int)
    .option('--max-nodes <n>', 'browse at most this many nodes', int, 10_000)
    .option('--max-depth <n>', 'browse at most this many levels below Objects', int, 12)
    .action(async (url: string, o) => {
      const logger = pino({ level: process.env.EDGETWIN_LOG_LEVEL ?? 'warn' }, pino.destination(2));
      if (o.output !== undefined && o.output !== 'yaml')
        program.error(`-o ${o.output}: only "yaml" is supported`, { exitCode: 2 });
      // node-opcua's own warnings go through console.log: keep stdout for the table or the manifest
      console.log = console.error;
      const { defaultOpcuaDataDir, parseOpcuaProtocol } = await import('@edgetwin/mappers/drivers/opcua/index');
      const configData: Record<string, unknown> = { url };
      for (const [option, key] of CONFIG_FLAGS) if (o[option] !== undefined) configData[key] = o[option];
      const parsed = parseOpcuaProtocol(configData as never);
      if (!parsed.ok) {
        const flagOf = (key: string) => CONFIG_FLAGS.find(([, k]) => k === key)?.[2] ?? (key === 'url' ? 'URL' : key);
        // a usage error naming the flag, without the whole command list after it
        process.stderr.write(
          `${parsed.issues.map((i) => `edgetwin probe opcua: ${flagOf(i.key ?? 'url')}: ${i.message}`).join('\n')}\n`,
        );
        return await exitFlushed(2);
      }
      try {
        const { opcuaSkeleton, probeOpcua: browse } = await import('@edgetwin/mappers/drivers/opcua/probe');
        const r = await browse(parsed.value, {
          dataDir: defaultOpcuaDataDir(),
          logger,
          ...(o.filter ? { filter: o.filter as string } : {}),
          maxNodes: o.maxNodes as number,
          maxDepth: o.maxDepth as number,
        });
        if (r.truncated) process.stderr.write(`edgetwin probe opcua: ${r.truncated}\n`);
        if (r.variables.length === 0) {
          process.stderr.write(
            `edgetwin probe opcua: no variable${o.filter ? ` matches "${o.filter}"` : ''} (${r.seen} seen below Objects)\n`,
          );
          return await exitFlushed(1);
        }
        if (o.output === 'yaml') {
          const docs = opcuaSkeleton(r.variables, { name: o.name, node: o.node, configData });
          process.stdout.write(docs.map((d) => stringify(d)).join('---\n'));
        } else {
          const rows = r.variables.map((v) => [
            v.nodeId,
            v.browsePath,
            `${v.dataTypeName ? `${v.dataType} (${v.dataTypeName})` : v.dataType}${v.isArray ? '[]' : ''}`,
            v.writable ? (v.readable ? 'ReadWrite' : 'WriteOnly') : v.readable ? 'ReadOnly' : 'None',
            [v.range ? `${v.range.low}..${v.range.high}` : '', v.unit ?? ''].filter(Boolean).join(' '),
            v.value.length > 40 ? `${v.value.slice(0, 39)}…` : v.value,
          ]);
          process.stdout.write(
            `${table(['NODE ID', 'BROWSE PATH', 'DATA TYPE', 'ACCESS', 'RANGE', 'VALUE'], rows)}\n${r.variables.length} of ${r.seen} variables\n`,
          );
        }
        return await exitFlushed(0);
      } catch (e) {
        process.stderr.write(`edgetwin probe opcua: ${(e as Error).message}\n`);
        return await exitFlushed(1);
      }
    });
};
