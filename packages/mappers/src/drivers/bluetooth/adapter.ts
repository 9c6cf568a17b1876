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
// - noble's UART socket sends HCI Reset once and waits for its answer forever: a Reset swallowed by a
//   controller still inside a command of a host that died mid-write, or an answer lost on the line (the
//   previous host's last read races the close), left the adapter poweredOff until the mapper restarted.
//   While the socket is not up the Reset is sent again with backoff (bounded by the start's timeout), and
//   a controller that never answers is an error saying so.
// - a host dropped while starting kept its serial port open (noble starts its binding a tick later, and its
//   UART socket closes the port only once open): drops wait for the binding, close a late-opening port, and
//   the next start waits for them; a port still locked by the previous host is tried again.

import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import type { Noble, Peripheral } from '@stoprocent/noble';
import type { Logger } from 'pino';
import { backoff, delay } from '../../framework/backoff.js';
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

/** What the adapter reads of noble's bindings (HCI: the SIGINT hook; BlueZ: the adapter it chose, its warnings). */
interface DbusBindingsLike {
  _sigIntHandler?: () => void;
  _adapterPath?: string | null;
  _objects?: Map<string, Record<string, unknown>>;
  on(event: 'warning', fn: (m: string) => void): unknown;
}

/** The part of @stoprocent/bluetooth-hci-socket's UART socket the adapter drives while it comes up. */
interface UartSocketLike {
  _isUp?: boolean;
  _serialDevice?: unknown;
  _hciSerialParser?: { reset(): void } | null;
  reset(): void;
  on(event: 'error', fn: (e: Error) => void): unknown;
}

/** First re-send of HCI Reset over UART, doubled up to the cap (a controller answers within milliseconds). */
const RESET_RESEND_MS = 250;
const RESET_RESEND_MAX_MS = 2000;
/** At most this many re-sends per start (the start's timeout bounds them too). */
export const MAX_RESET_RESENDS = 8;

/** The part of @serialport/stream's SerialPort the adapter closes and waits on. */
interface SerialLike {
  opening?: boolean;
  closing?: boolean;
  readonly isOpen: boolean;
  close(): void;
  on(event: 'error', fn: (e: Error) => void): unknown;
  once(event: 'open' | 'close' | 'error', fn: () => void): unknown;
  off(event: 'open' | 'close' | 'error', fn: () => void): unknown;
}

type WithBindings = (type: 'hci' | 'dbus', options: Record<string, unknown>) => Noble;
let withBindings: WithBindings | undefined;
const DBUS_NEXT = 'dbus-next';

function missing(pkg: string, version: string, e: unknown, extra = ''): DriverError {
  return new DriverError(
    `the bluetooth driver needs the optional dependency ${pkg} (npm install ${pkg}@${version}${extra}): ${(e as Error).message}`,
    'config',
    false,
    { cause: e },
  );
}

/** Loads noble on first use only (an optional dependency: a mapper without BLE devices never needs it). */
function loadNoble(spec: AdapterSpec): WithBindings {
  if (!withBindings) {
    try {
      // the package's main module builds a default instance on import; resolve-bindings builds none
      withBindings = require(`${NOBLE}/lib/resolve-bindings.js`) as WithBindings;
      fixNoble(require, NOBLE);
    } catch (e) {
      throw missing(NOBLE, '2.8.0', e, '; native build: set npm_config_nodedir=/usr');
    }
  }
  // noble's BlueZ binding requires dbus-next only when it starts, inside a promise: check it here
  if (spec.kind === 'dbus')
    try {
      require(DBUS_NEXT);
    } catch (e) {
      throw missing(DBUS_NEXT, '0.10.2', e);
    }
  return withBindings;
}

/** The UART socket under a noble instance (HCI over UART), once noble has started its binding. */
function uartSocket(noble: Noble): UartSocketLike | undefined {
  return (noble as unknown as { _bindings?: { _hci?: { _socket?: UartSocketLike } } })._bindings?._hci?._socket;
}

function describe(spec: AdapterSpec): string {
  if (spec.kind === 'hci') return `adapter hci${spec.deviceId}`;
  if (spec.kind === 'dbus') return `adapter ${spec.adapterId} (BlueZ D-Bus)`;
  return `adapter ${spec.key} (HCI over UART)`;
}

/** A UART port another open holds locked (possibly our previous host for a few more milliseconds). */
class PortBusy extends DriverError {}

function closedError(spec: AdapterSpec): DriverError {
  return new DriverError(`${describe(spec)} is closed`, 'not-connected', true);
}

/** What an adapter state other than poweredOn means, and the fix. */
function stateError(spec: AdapterSpec, state: string, detail?: string): DriverError {
  const name = describe(spec);
  if (spec.kind === 'dbus') return dbusError(spec, state, detail);
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

/**
 * The BlueZ D-Bus adapter's failures, by what noble's binding reported (its `warning` while starting) or
 * the adapter's Powered property, each with the fix.
 */
function dbusError(spec: AdapterSpec & { kind: 'dbus' }, state: string, detail = ''): DriverError {
  const name = describe(spec);
  const fail = (m: string, retryable = false) =>
    new DriverError(`${name}: ${m} (docs/ble.md, "BlueZ D-Bus")`, 'connection', retryable);
  if (/ENOENT|ECONNREFUSED|system_bus_socket/.test(detail))
    return fail(
      `the D-Bus system bus is not running (${detail.replace(/^dbus init failed: /, '')}): start it (sudo systemctl start dbus), or use an hciN adapter`,
      true,
    );
  if (/ServiceUnknown|NameHasNoOwner|was not provided by any \.service/.test(detail))
    return fail(
      'bluetoothd is not running (org.bluez is not on the system bus): sudo systemctl enable --now bluetooth',
      true,
    );
  if (/AccessDenied|not allowed|Rejected send/i.test(detail))
    return fail(
      `no permission on the system bus to talk to bluetoothd (org.bluez): add the mapper's user to the bluetooth group (sudo usermod -aG bluetooth USER; Debian's /etc/dbus-1/system.d/bluetooth.conf allows that group), or run as root`,
    );
  if (/No BlueZ adapter/.test(detail))
    return fail(
      'bluetoothd knows no Bluetooth adapter (bluetoothctl list; hciconfig -a; on a Raspberry Pi check dtoverlay=disable-bt)',
      true,
    );
  if (detail.startsWith('unknown adapter'))
    return fail(`${detail}: name one of those (dbus:hciN), or check \`bluetoothctl list\``);
  if (state === 'poweredOff')
    return fail(
      'powered off in BlueZ: bluetoothctl power on (AutoEnable=true in /etc/bluetooth/main.conf keeps it on); rfkill unblock bluetooth if it is blocked',
      true,
    );
  return fail(`${state}${detail ? ` (${detail})` : ''}`, true);
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
    if (this.closed) throw closedError(this.spec);
    if (this.noble && this.poweredOn) return this.noble;
    this.starting ??= this.start(timeoutMs).finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  /**
   * A UART port still locked by the previous host (its last read, in the thread pool, can outlive its
   * close by a few milliseconds) is tried again within the timeout; any other failure is final.
   */
  private async start(timeoutMs: number): Promise<Noble> {
    const deadline = Date.now() + timeoutMs;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.startHost(Math.max(1, deadline - Date.now()));
      } catch (e) {
        const wait = backoff(attempt, 50, 1000);
        if (!(e instanceof PortBusy) || Date.now() + wait >= deadline) throw e;
        this.logger.debug({ adapter: this.spec.key, attempt }, 'BLE adapter: serial port locked, trying again');
        await delay(wait);
      }
    }
  }

  private async startHost(timeoutMs: number): Promise<Noble> {
    const make = loadNoble(this.spec);
    await this.dropping;
    if (this.closed) throw closedError(this.spec);
    const spec = this.spec;
    const options: Record<string, unknown> =
      spec.kind === 'hci'
        ? { deviceId: spec.deviceId }
        : spec.kind === 'dbus'
          ? { adapterId: spec.adapterId }
          : { hciDriver: 'uart', bindParams: { uart: { port: spec.port, baudRate: spec.baudRate } } };
    let noble: Noble;
    try {
      noble = make(spec.kind === 'dbus' ? 'dbus' : 'hci', options);
    } catch (e) {
      throw new DriverError(`${describe(spec)}: ${(e as Error).message}`, 'connection', true, { cause: e });
    }
    this.noble = noble;
    // noble's BlueZ binding says why it could not start only in a warning (then goes `unsupported`)
    let detail: string | undefined;
    let starting = true;
    const bindings = (noble as unknown as { _bindings: DbusBindingsLike })._bindings;
    if (spec.kind === 'dbus')
      bindings.on('warning', (m: string) => {
        if (starting) detail ??= String(m);
        this.logger.debug({ adapter: spec.key, warning: m }, 'BLE binding warning');
      });
    // the UART socket reports a port it cannot open or use only as an `error` event; noble makes the
    // socket when it starts its binding, on the tick after the first stateChange listener (below)
    let lineError: string | undefined;
    let onLineError = () => {};
    if (spec.kind === 'uart')
      setImmediate(() =>
        uartSocket(noble)?.on('error', (e: Error) => {
          lineError ??= e.message;
          onLineError();
        }),
      );
    const resync = spec.kind === 'uart' ? this.resendResetUntilUp(noble) : undefined;
    const startedAt = Date.now();
    let state = await new Promise<string>((resolve) => {
      const timer = setTimeout(() => done(noble.state === 'unknown' ? 'poweredOff' : noble.state), timeoutMs);
      const onState = (s: string) => {
        if (s === 'poweredOn' || s === 'unauthorized' || s === 'unsupported') done(s);
      };
      // closed while starting: close() has dropped this host already
      const onLost = () => {
        if (this.noble !== noble) done('closed');
      };
      const done = (s: string) => {
        clearTimeout(timer);
        noble.removeListener('stateChange', onState);
        this.off('lost', onLost);
        resolve(s);
      };
      noble.on('stateChange', onState);
      this.on('lost', onLost);
      onLineError = () => done('poweredOff');
      if (noble.state === 'poweredOn') done('poweredOn');
    }).catch((e: Error) => e.message);
    const resets = resync?.stop() ?? 0;
    if (state === 'closed' || this.noble !== noble) throw closedError(spec);
    // noble's own SIGINT hook would exit the process before the mapper says offline
    if (bindings._sigIntHandler) process.removeListener('SIGINT', bindings._sigIntHandler);
    // noble's BlueZ binding takes the first adapter when the one asked for is unknown: refuse that
    if (state === 'poweredOn' && spec.kind === 'dbus') {
      const path = bindings._adapterPath ?? '';
      if (!path.endsWith(`/${spec.adapterId}`)) {
        const known = [...(bindings._objects?.entries() ?? [])]
          .filter(([, ifaces]) => ifaces['org.bluez.Adapter1'])
          .map(([p]) => p.split('/').pop());
        detail = `unknown adapter: BlueZ has ${known.join(', ') || 'none'}`;
        state = 'unknown';
      }
    }
    if (state !== 'poweredOn') {
      const unanswered = spec.kind === 'uart' && state === 'poweredOff' && !uartSocket(noble)?._isUp;
      await this.drop(noble);
      if (unanswered && lineError && /lock/i.test(lineError))
        throw new PortBusy(
          `${describe(spec)}: the serial port is held by another program or HCI host (${lineError}; find it with \`fuser -v ${spec.port}\`) (docs/ble.md)`,
          'connection',
          true,
        );
      if (unanswered && lineError)
        throw new DriverError(
          `${describe(spec)}: cannot use the serial port: ${lineError} (check the path, and that the mapper's user may open it: group dialout) (docs/ble.md)`,
          'connection',
          true,
        );
      if (unanswered)
        throw new DriverError(
          `${describe(spec)}: no answer to HCI Reset (sent ${resets + 1} times in ${Date.now() - startedAt} ms): the port is not an HCI controller in H4 mode, its baud rate is not ${spec.baudRate} (uart:PORT@BAUD), or the controller is hung (power-cycle it) (docs/ble.md)`,
          'connection',
          true,
        );
      throw stateError(spec, state, detail);
    }
    starting = false;
    this.poweredOn = true;
    noble.on('stateChange', (s: string) => {
      if (s === 'poweredOn' || noble !== this.noble) return;
      this.logger.warn(
        { adapter: this.spec.key, state: s },
        'BLE adapter lost; every device reconnects through a new HCI host',
      );
      void this.drop(noble);
    });
    noble.on('discover', (p: Peripheral) => this.onDiscover(p));
    noble.on('scanStop', () => this.scheduleScan());
    this.scanWanted = true;
    await this.scan();
    return noble;
  }

  /**
   * UART only: noble's socket sends one HCI Reset and ignores the line until that Reset's answer comes. If
   * the controller swallowed it (its H4 parser still inside a command a previous host left half-written)
   * or the answer was lost, the adapter stayed poweredOff for good. Re-send the Reset with backoff until the
   * socket is up; each re-send first clears noble's serial parser of any half packet, so the answer starts
   * a fresh packet. Noble runs its init sequence once for its own Reset (noble-fixes.ts drops the answers
   * to these). Returns how to stop it, which says how many Resets it re-sent.
   */
  private resendResetUntilUp(noble: Noble): { stop(): number } {
    let sent = 0;
    let timer: NodeJS.Timeout | undefined;
    const tick = () => {
      const socket = uartSocket(noble);
      if (this.noble !== noble || socket?._isUp) return;
      if (socket?._serialDevice) {
        socket._hciSerialParser?.reset();
        socket.reset();
        sent++;
        this.logger.debug(
          { adapter: this.spec.key, resent: sent },
          'BLE adapter: no answer to HCI Reset yet, sent again',
        );
      }
      if (sent < MAX_RESET_RESENDS) timer = setTimeout(tick, backoff(sent + 1, RESET_RESEND_MS, RESET_RESEND_MAX_MS));
    };
    timer = setTimeout(tick, RESET_RESEND_MS);
    return {
      stop: () => {
        clearTimeout(timer);
        return sent;
      },
    };
  }

  /**
   * Forget a noble instance: its adapter went away, never came up, or the adapter closes. Resolves when its
   * serial line (UART adapters) is closed: until then the old reader still takes bytes off the line, and a
   * new HCI host's reset answer could go to it (the new host would then stay poweredOff). Every start
   * waits for the drops before it (`dropping`).
   */
  private drop(noble: Noble): Promise<void> {
    if (this.noble === noble) {
      this.noble = undefined;
      this.poweredOn = false;
      this.seen.clear();
    }
    noble.removeAllListeners('discover');
    noble.removeAllListeners('scanStop');
    this.emit('lost');
    const stopped = this.stopHost(noble);
    const before = this.dropping;
    const all = Promise.all([before, stopped]).then(() => undefined);
    this.dropping = all;
    void all.then(() => {
      if (this.dropping === all) this.dropping = undefined;
    });
    return stopped;
  }

  /**
   * Stops a noble instance and closes its serial line. noble starts its binding (and opens the line) on
   * the tick after its first stateChange listener, and its UART socket closes the port only if it is
   * already open: a host stopped before either kept the port open (and its lock), reading the next
   * host's bytes for good. So: stop only once the binding has started, and close a port that finishes
   * opening after the stop.
   */
  private async stopHost(noble: Noble): Promise<void> {
    const started = (noble as unknown as { _bindings?: { _hci?: unknown } })._bindings?._hci;
    if (!started) await new Promise((resolve) => setImmediate(resolve));
    const serial = uartSocket(noble)?._serialDevice as SerialLike | undefined;
    try {
      noble.stop();
    } catch (e) {
      this.logger.debug({ err: (e as Error).message }, 'noble stop failed');
    }
    if (!serial) return;
    // the socket's stop removed every listener of the port: an open failing now must not be uncaught
    serial.on('error', (e: Error) => this.logger.debug({ err: e.message }, 'BLE serial port error after stop'));
    const event = (name: 'open' | 'close', ms: number) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(done, ms);
        function done() {
          clearTimeout(timer);
          serial?.off(name, done);
          serial?.off('error', done);
          resolve();
        }
        serial?.once(name, done);
        serial?.once('error', done);
      });
    if (serial.opening) await event('open', 2000);
    if (serial.isOpen) {
      const closed = event('close', 2000);
      serial.close();
      await closed;
    } else if (serial.closing) await event('close', 2000);
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
    const step = () => this.pauseDiscovery().then(fn);
    const run = this.connectChain.then(step, step);
    this.connectChain = run.catch(() => undefined).then(() => this.scan());
    return run;
  }

  /**
   * BlueZ only: stop discovery before a connect (scanning resumes after it, as for noble's HCI binding, which
   * stops scanning to connect itself). Device1.Connect makes the kernel wait for the device's next
   * advertising report; while bluetoothd's discovery runs the kernel does not rescan for it, and an emulated
   * controller (btvirt) reports advertisers only when scanning starts: in the VM every connect waited for
   * discovery's next 10.24 s round (issue 12, docs/ble.md). Without discovery the kernel scans for the
   * device itself at once.
   */
  private async pauseDiscovery(): Promise<void> {
    const noble = this.noble;
    if (this.spec.kind !== 'dbus' || !noble || !this.poweredOn) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      noble.stopScanningAsync().catch((e: Error) => this.logger.debug({ err: e.message }, 'BLE scan stop failed')),
      new Promise((resolve) => {
        timer = setTimeout(resolve, 5000);
      }),
    ]);
    clearTimeout(timer);
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
