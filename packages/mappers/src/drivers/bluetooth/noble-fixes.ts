// Three defects of @stoprocent/noble 2.8.0's HCI binding that the bluetooth driver must not inherit
// (issue 12), patched once on noble's prototypes when the driver loads noble:
// 1. Read RSSI: the reply's handle and RSSI are read without checking its length or status; a short
//    reply throws inside the socket's data handler and kills the process. Such replies are dropped (the
//    driver's call times out instead).
// 2. Write with response: an ATT Error Response is ignored, so the write never settles. It now fails
//    with the ATT error code and name (noble's Characteristic.writeAsync already rejects on an error).
// 3. HCI Reset: every Command Complete for a Reset re-runs noble's init sequence (event masks, version,
//    LE features...). Over UART the adapter re-sends Reset until the controller answers (see below), so
//    the controller may answer more Resets than noble sent. The init sequence now runs once per Reset
//    noble itself sent; the extra answers are dropped. (All those Resets precede noble's own on the line,
//    so the controller is reset before noble configures it.)
// And one of its BlueZ D-Bus binding (the `dbus` adapter):
// 4. The system bus connection's `error` event has no listener: a missing bus (no dbus-daemon, a wrong
//    DBUS_SYSTEM_BUS_ADDRESS) or a bus that goes away is an uncaught exception that ends the process. It
//    is now the binding's warning and state: `unsupported` while starting, `poweredOff` once running (the
//    driver then drops the instance and builds a new one, as for a lost HCI adapter).
// Patched in adapter.ts instead (it needs the adapter's start and timeout): the UART socket of
// @stoprocent/bluetooth-hci-socket 2.3.0 sends HCI Reset once and ignores the line until it is answered, so
// one Reset swallowed by the controller or one answer lost hung the adapter poweredOff for good; the
// adapter re-sends it with backoff while the socket is not up.

const READ_RSSI = 0x1405;
const RESET = 0x0c03;
const ATT_OP_ERROR = 0x01;
const ATT_OP_WRITE_RESP = 0x13;
const ATT_ERRORS: Record<number, string> = {
  1: 'Invalid Handle',
  2: 'Read Not Permitted',
  3: 'Write Not Permitted',
  5: 'Insufficient Authentication',
  6: 'Request Not Supported',
  7: 'Invalid Offset',
  8: 'Insufficient Authorization',
  13: 'Invalid Attribute Value Length',
  14: 'Unlikely Error',
  15: 'Insufficient Encryption',
  19: 'Value Not Allowed',
};

type Proto = Record<string, unknown> & { __edgetwinFixed?: boolean };
type Require = (id: string) => unknown;

interface DbusBindingsLike {
  _bus?: { on(event: 'error', fn: (e: Error) => void): unknown } | null;
  _state: string;
  emit(event: string, ...args: unknown[]): boolean;
}

interface HciLike {
  _aclConnections: Map<number, unknown>;
  /** Resets noble sent whose answer has not come yet */
  __edgetwinResets?: number;
}

interface GattLike {
  _mtu: number;
  _address: string;
  _characteristics: Record<string, Record<string, { valueHandle: number }>>;
  _queueCommand(buf: Buffer, callback: ((resp: Buffer) => void) | null): void;
  writeRequest(handle: number, data: Buffer, withoutResponse: boolean): Buffer;
  emit(event: string, ...args: unknown[]): boolean;
}

export function attErrorText(code: number): string {
  return `ATT error 0x${code.toString(16).padStart(2, '0')} (${ATT_ERRORS[code] ?? 'application error'})`;
}

export function fixNoble(require: Require, root: string): void {
  const hci = (require(`${root}/lib/hci-socket/hci.js`) as { prototype: Proto }).prototype;
  if (hci.__edgetwinFixed) return;
  hci.__edgetwinFixed = true;

  const reset = hci.reset as (this: HciLike) => void;
  hci.reset = function (this: HciLike) {
    // with links up noble sends no Reset (it runs its init sequence at once): no answer to wait for
    if (this._aclConnections.size === 0) this.__edgetwinResets = (this.__edgetwinResets ?? 0) + 1;
    return reset.call(this);
  };
  const processCmdComplete = hci.processCmdCompleteEvent as (cmd: number, status: number, result: Buffer) => void;
  hci.processCmdCompleteEvent = function (this: HciLike, cmd: number, status: number, result: Buffer) {
    if (cmd === READ_RSSI && (status !== 0 || !result || result.length < 3)) return;
    if (cmd === RESET) {
      if (!this.__edgetwinResets) return; // the answer to a Reset the adapter re-sent (adapter.ts)
      this.__edgetwinResets--;
    }
    return processCmdComplete.call(this, cmd, status, result);
  };

  const gatt = (require(`${root}/lib/hci-socket/gatt.js`) as { prototype: Proto }).prototype;
  const write = gatt.write as (this: GattLike, s: string, c: string, data: Buffer, withoutResponse: boolean) => void;
  gatt.write = function (
    this: GattLike,
    serviceUuid: string,
    characteristicUuid: string,
    data: Buffer,
    withoutResponse: boolean,
  ) {
    if (withoutResponse || data.length + 3 > this._mtu)
      return write.call(this, serviceUuid, characteristicUuid, data, withoutResponse);
    const characteristic = this._characteristics[serviceUuid]?.[characteristicUuid];
    if (!characteristic) return write.call(this, serviceUuid, characteristicUuid, data, withoutResponse);
    this._queueCommand(this.writeRequest(characteristic.valueHandle, data, false), (resp: Buffer) => {
      if (resp[0] === ATT_OP_WRITE_RESP) this.emit('write', this._address, serviceUuid, characteristicUuid);
      else if (resp[0] === ATT_OP_ERROR)
        this.emit('write', this._address, serviceUuid, characteristicUuid, new Error(attErrorText(resp[4] ?? 0)));
    });
  };

  const dbus = (require(`${root}/lib/dbus/bindings.js`) as { prototype: Proto }).prototype;
  const start = dbus.start as (this: DbusBindingsLike) => void;
  dbus.start = function (this: DbusBindingsLike) {
    start.call(this);
    this._bus?.on('error', (e: Error) => {
      this.emit('warning', `dbus init failed: ${e.message}`);
      const state = this._state === 'poweredOn' ? 'poweredOff' : 'unsupported';
      if (this._state === state) return;
      this._state = state;
      this.emit('stateChange', state);
    });
  };

  const bindings = (require(`${root}/lib/hci-socket/bindings.js`) as { prototype: Proto }).prototype;
  bindings.onWrite = function (
    this: { addressToId(a: string): string; emit(e: string, ...a: unknown[]): boolean },
    address: string,
    serviceUuid: string,
    characteristicUuid: string,
    error?: Error,
  ) {
    this.emit('write', this.addressToId(address), serviceUuid, characteristicUuid, error);
  };
}
