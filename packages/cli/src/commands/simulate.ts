// `edgetwin simulate -f FILE|DIR`: simulated Modbus devices made from the same Device/DeviceModel manifests
// the mapper reads. Prints where it listens and each device's registers, then serves until Ctrl-C.
// `--ble` (or bluetooth devices in the manifests) also starts the emulated BLE peripherals (issue 12).
import { createInterface } from 'node:readline';
import {
  type BlePeripheralName,
  type BlePeripherals,
  loadManifestFiles,
  type ModbusSimulator,
  resolveManifests,
  runSimulatorCommand,
  startBlePeripherals,
  startModbusSimulator,
} from '@edgetwin/simulators';
import { type Command, InvalidArgumentError, Option } from 'commander';
import pino from 'pino';

const REGISTER_NAMES = { coil: 'coil', discrete: 'discrete', holding: 'holding', input: 'input' };

export function registerSimulate(program: Command): void {
  program
    .command('simulate')
    .description(
      'serve the Modbus devices of Device/DeviceModel manifests as a simulated Modbus TCP (or RTU) slave, and/or the emulated BLE peripherals',
    )
    .option('-f, --filename <path...>', 'manifest files or directories (YAML, several documents allowed)')
    // the old spelling still works; one spelling is shown across commands (issue 16 §3)
    .addOption(new Option('--file <path...>').hideHelp())
    .option('--ble', 'start the emulated BLE peripherals (a SensorTag-like sensor, a lamp, a beacon; needs Bumble)')
    .option('--ble-pty <path>', 'where the emulated BLE adapter PTY symlink goes', '/tmp/edgetwin-ble.pty')
    .option(
      '--port <n>',
      'serve every device on this one TCP port (0 = any free port); default: the ports the manifests name',
      parsePort,
    )
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option('--rtu <path>', 'serve as an RTU slave on this serial port instead (e.g. one end of a socat PTY pair)')
    .option('--baud <n>', 'RTU baud rate', (v) => Number.parseInt(v, 10), 9600)
    .option('--static', 'keep values still (default: they move within the model minimum/maximum)')
    .option('--tick <ms>', 'how often values move', (v) => Number.parseInt(v, 10), 1000)
    .option('--strict', 'answer exception 2 for registers no property declares')
    .action(async (o) => {
      const logger = pino({ level: process.env.EDGETWIN_LOG_LEVEL ?? 'warn' }, pino.destination(2));
      const files = [...((o.filename as string[] | undefined) ?? []), ...((o.file as string[] | undefined) ?? [])];
      if (files.length === 0 && !o.ble) throw new InvalidArgumentError('give -f FILE|DIR, or --ble');
      const loaded = await loadManifestFiles(files);
      const devices = resolveManifests(loaded, { protocol: 'modbus' });
      const wantBle = Boolean(o.ble) || resolveManifests(loaded, { protocol: 'bluetooth' }).length > 0;
      const opcuaDevices = resolveManifests(loaded, { protocol: 'opcua' });
      if (devices.length === 0 && opcuaDevices.length === 0 && !wantBle)
        throw new Error(`no modbus, opcua or bluetooth devices in ${files.join(', ')}`);
      const sim =
        devices.length === 0
          ? undefined
          : await startModbusSimulator({
              devices,
              ...(o.rtu
                ? { rtu: { path: o.rtu as string, baudRate: o.baud as number } }
                : { tcp: { host: o.host, port: o.port } }),
              behaviour: o.static ? 'static' : 'moving',
              tickMs: o.tick,
              strict: Boolean(o.strict),
              logger,
            });
      if (sim) process.stdout.write(describeSimulator(sim));
      // one OPC-UA server for every opcua device (on --port, else the port of the first device's url)
      // node-opcua loads only when there are OPC-UA devices (it costs about a second at start)
      const opcua =
        opcuaDevices.length === 0
          ? undefined
          : await (await import('@edgetwin/simulators/opcua/simulator')).startOpcuaSimulator({
              devices: opcuaDevices,
              host: o.host,
              ...(o.port !== undefined && devices.length === 0 ? { port: o.port } : {}),
              behaviour: o.static ? 'static' : 'moving',
              tickMs: o.tick,
              logger,
            });
      if (opcua)
        process.stdout.write(
          `opcua simulator listening on ${opcua.url} (${opcuaDevices.length} device${opcuaDevices.length === 1 ? '' : 's'})\n`,
        );
      const ble = wantBle ? await startBlePeripherals({ ptyPath: o.blePty as string }) : undefined;
      if (ble) process.stdout.write(describeBle(ble));
      // typed commands (set, get, fault) drive the simulated devices during a demo
      const input = createInterface({ input: process.stdin, terminal: false });
      input.on('line', (line) => {
        if (ble && line.trim().startsWith('ble')) {
          void runBleCommand(ble, line).then((out) => process.stdout.write(`${out}\n`));
          return;
        }
        const out = sim
          ? runSimulatorCommand(sim, line)
          : 'commands: ble set|get DEVICE KEY [VALUE], ble fault DEVICE out-of-range|in-range|drop-link';
        if (out) process.stdout.write(`${out}\n`);
      });
      await untilSignal();
      input.close();
      await sim?.stop();
      await opcua?.stop();
      await ble?.stop();
    });
}

function parsePort(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError(`"${value}" is not a TCP port (0-65535)`);
  return n;
}

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/** Where the simulator listens and, per device, the registers it serves (one line each). */
export function describeSimulator(sim: ModbusSimulator): string {
  const lines: string[] = [];
  for (const e of sim.endpoints) {
    const where = e.kind === 'tcp' ? `tcp ${e.host}:${e.port}` : `rtu ${e.path}`;
    lines.push(
      `modbus simulator listening on ${where} (${e.devices.length} device${e.devices.length === 1 ? '' : 's'})`,
    );
  }
  const rows = sim
    .describe()
    .map(({ device, unit, point, transforms }) => [
      device,
      String(unit),
      point.property,
      REGISTER_NAMES[point.table],
      point.count > 1 ? `${point.offset}..${point.offset + point.count - 1}` : String(point.offset),
      transforms.bit !== undefined
        ? `boolean@bit${transforms.bit}`
        : point.bit !== undefined
          ? `${point.type}@bit${point.bit}`
          : point.type,
      point.count > 1 && point.type !== 'string' && point.type !== 'bytes' ? point.order : '',
      transforms.scale === 1 ? '' : String(transforms.scale),
      String(sim.peek(device, point.property)),
    ]);
  const header = ['DEVICE', 'UNIT', 'PROPERTY', 'TABLE', 'ADDRESS', 'TYPE', 'ORDER', 'SCALE', 'VALUE'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  lines.push('', fmt(header), ...rows.map(fmt), '', 'Type "help" for commands (set, get, fault); Ctrl-C to stop', '');
  return lines.join('\n');
}

/** The emulated adapter and peripherals, and how to point a mapper at them. */
export function describeBle(ble: BlePeripherals): string {
  const rows = Object.entries(ble.devices).map(
    ([k, d]) => `  ${k.padEnd(7)} ${d.address}  ${d.addressType.padEnd(6)}  ${d.name}`,
  );
  return [
    `BLE peripherals on the emulated adapter uart:${ble.ptyPath} (address ${ble.adapter})`,
    ...rows,
    `Point the bluetooth mapper at it: EDGETWIN_BLE_ADAPTER=uart:${ble.ptyPath} npx edgetwin mapper bluetooth --node edge-node-1`,
    'Commands: ble get DEVICE KEY, ble set DEVICE KEY VALUE, ble fault DEVICE out-of-range|in-range|drop-link',
    '',
  ].join('\n');
}

/** `ble get lamp power`, `ble set sensor object 25.5`, `ble fault lamp out-of-range`. */
export async function runBleCommand(ble: BlePeripherals, line: string): Promise<string> {
  const [, verb, device, key, value] = line.trim().split(/\s+/);
  try {
    if (verb === 'get' && device && key)
      return `${device} ${key} = ${JSON.stringify(await ble.get(device as BlePeripheralName, key))}`;
    if (verb === 'set' && device && key && value !== undefined) {
      await ble.set(
        device as BlePeripheralName,
        key,
        value === 'true' ? true : value === 'false' ? false : Number(value),
      );
      return `${device} ${key} set`;
    }
    if (verb === 'fault' && device && (key === 'out-of-range' || key === 'in-range' || key === 'drop-link')) {
      await ble.fault(device as BlePeripheralName, key);
      return `${device}: ${key}`;
    }
  } catch (e) {
    return `error: ${(e as Error).message}`;
  }
  return 'usage: ble get DEVICE KEY | ble set DEVICE KEY VALUE | ble fault DEVICE out-of-range|in-range|drop-link';
}
