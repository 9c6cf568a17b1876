// One BLE adapter (an HCI controller) shared by every BLE device of the mapper (issue 12): one noble
// instance, one scanner that never stops for long, connects serialised (a controller initiates one
// connection at a time and noble stops scanning to connect), and the noble facts the issue lists:
// - noble never reattaches after its adapter disappears: on poweredOff after poweredOn the instance is
//   dropped, every device sees its link lost, and the next connect builds a new one;
// - a second HCI host on one adapter stays poweredOff silently: waiting for poweredOn times out with an
//   error naming the likely holder (bluetoothd) and the fix;
// - beacons are seen only with allowDuplicates: the scanner always allows duplicates;
// - noble stops scanning to connect and does not resume: we restart it after every connect attempt;
// - noble's SIGINT hook exits the process before the mapper stops: it is removed (the mapper's own
//   SIGINT/SIGTERM stop disconnects every device through factory.close()).
// - noble's Read RSSI and write-error defects: patched once when noble loads (noble-fixes.ts).

import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import type { Noble, Peripheral } from '@stoprocent/noble';
import type { Logger } from 'pino';
import { DriverError } from '../../framework/driver.js';
import type { AdapterSpec } from './config.js';
import { fixNoble } from './noble-fixes.js';

const require = createRequire(import.meta.url);
const NOBLE = '@stoprocent/noble';

/** How many advertisers the scanner remembers (oldest forgotten first). */
export const MAX_SEEN = 512;

export interface Seen {
  peripheral: Peripheral;
  lastSeen: number;
}

/** The part of @serialport/stream's SerialPort the adapter waits on. */
interface SerialLike {
  closing?: boolean;
  once(event: 'close', fn: () => void): unknown;
}

type WithBindings = (type: 'hci', options: Record<string, unknown>) => Noble;
let withBindings: WithBindings | undefined;

/** Loads noble on first use only (an optional dependency: a mapper without BLE devices never needs it). */
function loadNoble(): WithBindings {
  if (withBindings) return withBindings;
  try {
    // the package's main module builds a default instance on import; resolve-bindings builds none
    withBindings = require(`${NOBLE}/lib/resolve-bindings.js`) as WithBindings;
    fixNoble(require, NOBLE);
  } catch (e) {
    throw new DriverError(
      `the bluetooth driver needs the optional dependency ${NOBLE} (npm install ${NOBLE}@2.8.0; native build: set npm_config_nodedir=/usr): ${(e as Error).message}`,
      'config',
      false,
      { cause: e },
    );
  }
  return withBindings;
}

function describe(spec: AdapterSpec): string {
  return spec.kind === 'hci' ? `adapter hci${spec.deviceId}` : `adapter ${spec.key} (HCI over UART)`;
}

/** What an adapter state other than poweredOn means, and the fix. */
function stateError(spec: AdapterSpec, state: string): DriverError {
  const name = describe(spec);
  if (state === 'unauthorized')
    return new DriverError(
      `${name}: no permission for raw HCI: give node CAP_NET_RAW (sudo setcap cap_net_raw+eip "$(readlink -f "$(command -v node)")") or run as root (docs/ble.md)`,
      'connection',
      false,
    );
  if (state === 'unsupported')
    return new DriverError(
      spec.kind === 'hci'
        ? `${name}: no such Bluetooth controller (list them with \`hciconfig -a\` or \`btmgmt info\`; on a Raspberry Pi check dtoverlay=disable-bt is not set) (docs/ble.md)`
        : `${name}: the serial port cannot be opened or is not an HCI controller (docs/ble.md)`,
      'connection',
      false,
    );
  return new DriverError(
    `${name} is ${state}: the controller is down, or another HCI host (bluetoothd) holds it; \`sudo hciconfig hci${spec.kind === 'hci' ? spec.deviceId : 'N'} up\`, or stop bluetoothd for this adapter (docs/ble.md)`,
    'connection',
    true,
  );
}

export class BleAdapter extends EventEmitter {
  private noble: Noble | undefined;
  private poweredOn = false;
  private starting: Promise<Noble> | undefined;
  private readonly seen = new Map<string, Seen>();
  private connectChain: Promise<unknown> = Promise.resolve();
  private scanWanted = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** the drop of a lost noble instance, awaited before a new one opens the same line */
  private dropping: Promise<void> | undefined;
  /** peripherals linked through this adapter, disconnected on close (noble's own stop loses the command) */
  private readonly linked = new Set<Peripheral>();

  constructor(
    readonly spec: AdapterSpec,
    private readonly logger: Logger,
  ) {
    super();
    this.setMaxListeners(0); // one listener per device; bounded by the devices of the mapper
  }

  /** The noble instance, powered on and scanning. Throws DriverError naming the fix when it cannot be. */
  async ready(timeoutMs: number): Promise<Noble> {
    if (this.closed) throw new DriverError(`${describe(this.spec)} is closed`, 'not-connected', true);
    if (this.noble && this.poweredOn) return this.noble;
    this.starting ??= this.start(timeoutMs).finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  private async start(timeoutMs: number): Promise<Noble> {
    const make = loadNoble();
    await this.dropping;
    const options: Record<string, unknown> =
      this.spec.kind === 'hci'
        ? { deviceId: this.spec.deviceId }
        : { hciDriver: 'uart', bindParams: { uart: { port: this.spec.port, baudRate: this.spec.baudRate } } };
    let noble: Noble;
    try {
      noble = make('hci', options);
    } catch (e) {
      throw new DriverError(`${describe(this.spec)}: ${(e as Error).message}`, 'connection', true, { cause: e });
    }
    this.noble = noble;
    const state = await new Promise<string>((resolve) => {
      const timer = setTimeout(() => done(noble.state === 'unknown' ? 'poweredOff' : noble.state), timeoutMs);
      const onState = (s: string) => {
        if (s === 'poweredOn' || s === 'unauthorized' || s === 'unsupported') done(s);
      };
      function done(s: string) {
        clearTimeout(timer);
        noble.removeListener('stateChange', onState);
        resolve(s);
      }
      noble.on('stateChange', onState);
      if (noble.state === 'poweredOn') done('poweredOn');
    }).catch((e: Error) => e.message);
    // noble's own SIGINT hook would exit the process before the mapper says offline
    const bindings = (noble as unknown as { _bindings?: { _sigIntHandler?: () => void } })._bindings;
    if (bindings?._sigIntHandler) process.removeListener('SIGINT', bindings._sigIntHandler);
    if (state !== 'poweredOn') {
      await this.drop(noble);
      throw stateError(this.spec, state);
    }
    this.poweredOn = true;
    noble.on('stateChange', (s: string) => {
      if (s === 'poweredOn' || noble !== this.noble) return;
      this.logger.warn(
        { adapter: this.spec.key, state: s },
        'BLE adapter lost; every device reconnects through a new HCI host',
      );
      this.drop(noble);
    });
    noble.on('discover', (p: Peripheral) => this.onDiscover(p));
    noble.on('scanStop', () => this.scheduleScan());
    this.scanWanted = true;
    await this.scan();
    return noble;
  }

  /**
   * Forget a noble instance: its adapter went away or never came up. Resolves when its serial line (UART
   * adapters) is closed: until then the old reader still takes bytes off the line, and a new HCI host's
   * reset answer could go to it (the new host would then stay poweredOff).
   */
  private drop(noble: Noble): Promise<void> {
    if (this.noble === noble) {
      this.noble = undefined;
      this.poweredOn = false;
      this.seen.clear();
    }
    noble.removeAllListeners('discover');
    noble.removeAllListeners('scanStop');
    const serial = (noble as unknown as { _bindings?: { _hci?: { _socket?: { _serialDevice?: SerialLike } } } })
      ._bindings?._hci?._socket?._serialDevice;
    try {
      noble.stop();
    } catch (e) {
      this.logger.debug({ err: (e as Error).message }, 'noble stop failed');
    }
    this.emit('lost');
    if (!serial?.closing) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, 2000);
      serial.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private async scan(): Promise<void> {
    const noble = this.noble;
    if (!noble || !this.poweredOn || !this.scanWanted) return;
    try {
      await noble.startScanningAsync([], true);
    } catch (e) {
      this.logger.debug({ err: (e as Error).message }, 'BLE scan start failed');
    }
  }

  /** noble stops scanning to connect (and on some controller events): scan again soon, outside a connect. */
  private scheduleScan(): void {
    if (this.closed || this.restartTimer) return;
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      void this.connectChain.then(() => this.scan());
    }, 50);
  }

  private onDiscover(p: Peripheral): void {
    const key = p.address.toLowerCase();
    this.seen.delete(key); // re-insert: Map order is then least recently seen first
    this.seen.set(key, { peripheral: p, lastSeen: Date.now() });
    if (this.seen.size > MAX_SEEN) this.seen.delete(this.seen.keys().next().value as string);
    this.emit('advertisement', p);
  }

  /** Advertisers heard since the adapter came up (most recent last). */
  advertisers(): Seen[] {
    return [...this.seen.values()];
  }

  lookup(match: (p: Peripheral) => boolean): Seen | undefined {
    let found: Seen | undefined;
    for (const s of this.seen.values()) if (match(s.peripheral)) found = s;
    return found;
  }

  /** Waits until an advertiser matching `match` is heard, or fails after timeoutMs. */
  async find(
    match: (p: Peripheral) => boolean,
    timeoutMs: number,
    what: string,
    maxAgeMs: number,
  ): Promise<Peripheral> {
    const known = this.lookup(match);
    if (known && Date.now() - known.lastSeen <= maxAgeMs) return known.peripheral;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new DriverError(
            `${what}: not heard advertising within ${timeoutMs} ms (out of range or off?)`,
            'connection',
            true,
          ),
        );
      }, timeoutMs);
      const onAd = (p: Peripheral) => {
        if (!match(p)) return;
        cleanup();
        resolve(p);
      };
      const onLost = () => {
        cleanup();
        reject(new DriverError(`${what}: ${describe(this.spec)} went away`, 'connection', true));
      };
      const cleanup = () => {
        clearTimeout(timer);
        this.off('advertisement', onAd);
        this.off('lost', onLost);
      };
      this.on('advertisement', onAd);
      this.on('lost', onLost);
    });
  }

  /** Runs fn with the adapter's connect slot: one connection being set up at a time, scanning resumed after. */
  serialised<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.connectChain.then(fn, fn);
    this.connectChain = run.catch(() => undefined).then(() => this.scan());
    return run;
  }

  /** Remember a peripheral connected through this adapter until it disconnects. */
  track(p: Peripheral): void {
    this.linked.add(p);
    p.once('disconnect', () => this.linked.delete(p));
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.restartTimer);
    // end every link before the HCI host goes: noble's stop() queues the Disconnects and closes the
    // socket at once, so the peripherals would stay connected (and silent) until their supervision timeout
    await Promise.all(
      [...this.linked].map((p) =>
        p.state === 'connected'
          ? Promise.race([p.disconnectAsync().catch(() => undefined), new Promise((r) => setTimeout(r, 1000))])
          : undefined,
      ),
    );
    this.linked.clear();
    const noble = this.noble;
    if (noble) await this.drop(noble);
    await this.dropping;
    this.removeAllListeners();
  }
}

/** One adapter per adapter key (hci0, uart:/dev/ttyUSB0), shared by every device of the mapper. */
export class AdapterPool {
  private readonly adapters = new Map<string, BleAdapter>();

  get(spec: AdapterSpec, logger: Logger): BleAdapter {
    let a = this.adapters.get(spec.key);
    if (!a) {
      a = new BleAdapter(spec, logger);
      this.adapters.set(spec.key, a);
    }
    return a;
  }

  async close(): Promise<void> {
    const all = [...this.adapters.values()];
    this.adapters.clear();
    await Promise.all(all.map((a) => a.close()));
  }
}
