// `edgetwin simulate -f FILE|DIR`: simulated Modbus devices made from the same Device/DeviceModel manifests
// the mapper reads. Prints where it listens and each device's registers, then serves until Ctrl-C.
import { createInterface } from 'node:readline';
import {
  loadManifestFiles,
  type ModbusSimulator,
  resolveManifests,
  runSimulatorCommand,
  startModbusSimulator,
} from '@edgetwin/simulators';
import { type Command, InvalidArgumentError } from 'commander';
import pino from 'pino';

const REGISTER_NAMES = { coil: 'coil', discrete: 'discrete', holding: 'holding', input: 'input' };

export function registerSimulate(program: Command): void {
  program
    .command('simulate')
    .description('serve the Modbus devices of Device/DeviceModel manifests as a simulated Modbus TCP (or RTU) slave')
    .requiredOption('-f, --file <path...>', 'manifest files or directories (YAML, several documents allowed)')
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
      const loaded = await loadManifestFiles(o.file as string[]);
      const devices = resolveManifests(loaded, { protocol: 'modbus' });
      if (devices.length === 0) throw new Error(`no modbus devices in ${(o.file as string[]).join(', ')}`);
      const sim = await startModbusSimulator({
        devices,
        ...(o.rtu
          ? { rtu: { path: o.rtu as string, baudRate: o.baud as number } }
          : { tcp: { host: o.host, port: o.port } }),
        behaviour: o.static ? 'static' : 'moving',
        tickMs: o.tick,
        strict: Boolean(o.strict),
        logger,
      });
      process.stdout.write(describeSimulator(sim));
      // typed commands (set, get, fault) drive the simulated devices during a demo
      const input = createInterface({ input: process.stdin, terminal: false });
      input.on('line', (line) => {
        const out = runSimulatorCommand(sim, line);
        if (out) process.stdout.write(`${out}\n`);
      });
      await untilSignal();
      input.close();
      await sim.stop();
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
    .map(({ device, unit, point }) => [
      device,
      String(unit),
      point.property,
      REGISTER_NAMES[point.table],
      point.count > 1 ? `${point.offset}..${point.offset + point.count - 1}` : String(point.offset),
      point.bit !== undefined ? `${point.type}@bit${point.bit}` : point.type,
      point.count > 1 && point.type !== 'string' && point.type !== 'bytes' ? point.order : '',
      point.scale === 1 ? '' : String(point.scale),
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
