# Emulated BLE peripherals for edgetwin's BLE driver tests, examples and `edgetwin simulate` (issue 12).
#
# One Bumble LocalLink (with the fixes of bumble_fixes.py) carries:
#   - the adapter: a virtual controller behind an H4 transport on a PTY, for noble's UART binding
#     (BLUETOOTH_HCI_SOCKET_UART_PORT=<pty> or the driver's `adapter: uart:<pty>`);
#   - "sensor": a SensorTag-like sensor (TI CC2650 IR temperature service: data read+notify, config to
#     enable it; IO service for its LEDs/buzzer), public address;
#   - "lamp": a BLE lamp/relay (power: write with response; brightness: write without response), random static address;
#   - "beacon": an advertising-only beacon (manufacturer data + BTHome-style service data), never connectable.
# With --hci-socket N[,L,B] instead of --pty (issue 18, the real-kernel VM tier): the sensor as the host of
# the kernel's Bluetooth controller hciN (HCI user channel; a btvirt controller under hci_vhci), and the lamp
# and the beacon on hciL and hciB when given, so that noble's HCI-socket binding or bluetoothd on another
# controller reaches them through Linux. The sensor's address is its controller's public address (in the
# ready line). Faults there: out-of-range stops advertising and ends the links at once (a real disconnect
# over the controllers, not a supervision timeout), in-range advertises again; drop-link needs --pty. The
# beacon there advertises again every second (btvirt reports an advertiser only when its advertising is
# enabled, not on every advertising event: Beacon.repeat_advertising).
#
# Control: JSON lines on stdin ({"id":1,"cmd":"get","device":"lamp","key":"power"}), answers and events as
# JSON lines on stdout. The first line is {"event":"ready",...}. Logs go to stderr.
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import struct
import sys

from bumble import att, hci
from bumble.core import AdvertisingData, UUID
from bumble.device import AdvertisingType, Device
from bumble.gatt import Characteristic, CharacteristicValue, Service
from bumble.host import Host
from bumble.transport import open_transport
from bumble.transport.common import AsyncPipeSink

from bumble_fixes import FixedController, FixedLink

log = logging.getLogger('edgetwin.peripherals')

SENSOR_ADDRESS = 'B0:B4:48:ED:00:01'  # public (TI's OUI, as a SensorTag's)
LAMP_ADDRESS = 'F2:ED:00:00:00:02'  # random static
BEACON_ADDRESS = 'F3:ED:00:00:00:03'  # random static
ADAPTER_ADDRESS = '00:1A:7D:ED:00:00'

TI = 'f000{:04x}-0451-4000-b000-000000000000'
IR_SERVICE, IR_DATA, IR_CONFIG, IR_PERIOD = (TI.format(x) for x in (0xAA00, 0xAA01, 0xAA02, 0xAA03))
IO_SERVICE, IO_DATA, IO_CONFIG = (TI.format(x) for x in (0xAA64, 0xAA65, 0xAA66))
ED = 'ed9e{:04x}-6564-6765-7477-696e626c6500'  # "edgetwinble"
LAMP_SERVICE, LAMP_POWER, LAMP_BRIGHTNESS, LAMP_SWITCHES = (ED.format(x) for x in (1, 2, 3, 4))
BEACON_COMPANY = 0xFFFF  # the Bluetooth SIG's id for tests and development
BTHOME_UUID16 = 0xFCD2

P = Characteristic.Properties


def emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + '\n')
    sys.stdout.flush()


def ti_raw(celsius: float) -> int:
    """TI's TMP007 encoding: 14 bits of 1/32 degree, shifted left by 2."""
    return (round(celsius / 0.03125) << 2) & 0xFFFF


def enforce_properties(device: Device) -> None:
    """Gap: Bumble's GATT server ignores characteristic properties: a Write Command (without response)
    to a characteristic that allows only Write Requests was accepted, and the other way round. A real
    server discards the command and refuses the request (Write Not Permitted)."""
    server = device.gatt_server
    write_request, write_command = server.on_att_write_request, server.on_att_write_command

    def props(handle: int) -> int | None:
        a = server.get_attribute(handle)
        return a.properties if isinstance(a, Characteristic) else None

    def on_write_request(bearer, request):
        p = props(request.attribute_handle)
        if p is not None and not p & P.WRITE:
            server.send_response(
                bearer,
                att.ATT_Error_Response(
                    request_opcode_in_error=request.op_code,
                    attribute_handle_in_error=request.attribute_handle,
                    error_code=att.ATT_WRITE_NOT_PERMITTED_ERROR,
                ),
            )
            return None
        return write_request(bearer, request)

    def on_write_command(bearer, request):
        p = props(request.attribute_handle)
        if p is not None and not p & P.WRITE_WITHOUT_RESPONSE:
            log.info('discarding a write command to handle 0x%04X (no write-without-response)', request.attribute_handle)
            return None
        return write_command(bearer, request)

    server.on_att_write_request = on_write_request
    server.on_att_write_command = on_write_command


class Peripheral:
    name: str
    device: Device

    def __init__(self, name: str, controller: FixedController):
        self.name = name
        self.controller = controller
        self.refuse_writes = 0  # ATT error code to answer writes with (0 = accept)
        self.silent = False  # out of range (--hci-socket): no advertising, no links
        self.public = False  # advertises with its controller's public address (else its random static one)
        self.advertise_again = None  # starts its advertising again (set by start_peripheral)

    def check_write(self) -> None:
        if self.refuse_writes:
            raise att.ATT_Error(self.refuse_writes)

    def byte_writer(self, key: str):
        """A GATT write callback storing the first byte written in attribute `key`."""

        def write(_connection, value: bytes) -> None:
            self.check_write()
            setattr(self, key, value[0] if value else 0)
            emit({'event': 'write', 'device': self.name, 'key': key, 'value': value.hex()})

        return write

    def byte_characteristic(self, uuid: str, properties: int, key: str) -> Characteristic:
        """A one-byte characteristic backed by attribute `key`."""
        return Characteristic(
            uuid,
            properties,
            Characteristic.READABLE | Characteristic.WRITEABLE,
            CharacteristicValue(read=lambda _c: bytes([getattr(self, key)]), write=self.byte_writer(key)),
        )

    def get(self, key: str):
        raise KeyError(key)

    async def set(self, key: str, value) -> None:
        raise KeyError(key)


class Sensor(Peripheral):
    def __init__(self, name, controller):
        super().__init__(name, controller)
        self.object_c = 24.0
        self.ambient_c = 22.5
        self.enabled = False
        self.io = 0
        self.io_config = 0

    def data(self) -> bytes:
        if not self.enabled:
            return bytes(4)  # the real sensor reads zeros until enabled
        return struct.pack('<HH', ti_raw(self.object_c), ti_raw(self.ambient_c))

    def build(self) -> list[Service]:
        def write_config(_c, value: bytes):
            self.check_write()
            self.enabled = len(value) > 0 and value[0] != 0
            emit({'event': 'write', 'device': self.name, 'key': 'config', 'value': value.hex()})
            asyncio.get_running_loop().create_task(self.notify())

        self.ir_data = Characteristic(
            IR_DATA, P.READ | P.NOTIFY, Characteristic.READABLE, CharacteristicValue(read=lambda _c: self.data())
        )
        self.ir_config = Characteristic(
            IR_CONFIG,
            P.READ | P.WRITE,
            Characteristic.READABLE | Characteristic.WRITEABLE,
            CharacteristicValue(read=lambda _c: bytes([1 if self.enabled else 0]), write=write_config),
        )
        period = Characteristic(IR_PERIOD, P.READ | P.WRITE, Characteristic.READABLE | Characteristic.WRITEABLE, bytes([100]))
        io_data = self.byte_characteristic(IO_DATA, P.READ | P.WRITE, 'io')
        io_config = self.byte_characteristic(IO_CONFIG, P.READ | P.WRITE, 'io_config')
        return [Service(IR_SERVICE, [self.ir_data, self.ir_config, period]), Service(IO_SERVICE, [io_data, io_config])]

    async def notify(self) -> None:
        await self.device.notify_subscribers(self.ir_data, self.data())

    def get(self, key):
        return {'object': self.object_c, 'ambient': self.ambient_c, 'enabled': self.enabled, 'io': self.io, 'io_config': self.io_config}[key]

    async def set(self, key, value):
        if key == 'object':
            self.object_c = float(value)
        elif key == 'ambient':
            self.ambient_c = float(value)
        elif key == 'enabled':
            self.enabled = bool(value)
        elif key in ('io', 'io_config'):
            setattr(self, key, int(value))
        else:
            raise KeyError(key)
        await self.notify()


class Lamp(Peripheral):
    def __init__(self, name, controller):
        super().__init__(name, controller)
        self.power = 0
        self.brightness = 50
        self.switches = 0  # how often the power changed (indicated, for indicate subscriptions)

    def build(self) -> list[Service]:
        self.power_c = self.byte_characteristic(LAMP_POWER, P.READ | P.WRITE | P.NOTIFY, 'power')
        brightness = self.byte_characteristic(LAMP_BRIGHTNESS, P.READ | P.WRITE_WITHOUT_RESPONSE, 'brightness')
        self.switches_c = Characteristic(
            LAMP_SWITCHES,
            P.READ | P.INDICATE,
            Characteristic.READABLE,
            CharacteristicValue(read=lambda _c: struct.pack('<H', self.switches)),
        )
        return [Service(LAMP_SERVICE, [self.power_c, brightness, self.switches_c])]

    def get(self, key):
        return {'power': self.power, 'brightness': self.brightness, 'switches': self.switches}[key]

    async def set(self, key, value):
        if key not in ('power', 'brightness'):
            raise KeyError(key)
        if key == 'power' and int(value) != self.power:
            self.switches += 1
            await self.device.indicate_subscribers(self.switches_c, struct.pack('<H', self.switches))
        setattr(self, key, int(value))
        if key == 'power':
            await self.device.notify_subscribers(self.power_c, bytes([self.power]))


class Beacon(Peripheral):
    def __init__(self, name, controller):
        super().__init__(name, controller)
        self.temperature = 21.5
        self.humidity = 40.0
        self.counter = 0
        self.lock = asyncio.Lock()  # one change of its advertising at a time (set, repeat, out of range)

    def advertising_data(self) -> bytes:
        t = round(self.temperature * 100)
        h = round(self.humidity * 100)
        # manufacturer data: the temperature in 0.01 C
        manufacturer = struct.pack('<Hh', BEACON_COMPANY, t)
        # BTHome v2 style: device info byte, then (object id, value) pairs: 0x02 temperature 0.01 C, 0x03 humidity 0.01 %
        bthome = struct.pack('<HBBhBH', BTHOME_UUID16, 0x40, 0x02, t, 0x03, h)
        # 31 bytes, a legacy advertisement's limit. It was 34 (humidity and a counter in the manufacturer
        # data too), which Bumble's own controller sent but BlueZ's btvirt dies of (a buffer overflow) when a
        # controller of it scans the beacon. The Flags stay: BlueZ lists no device that is not discoverable
        return bytes(
            AdvertisingData(
                [
                    (AdvertisingData.FLAGS, bytes([0x06])),
                    (AdvertisingData.COMPLETE_LOCAL_NAME, b'ET-Beacon'),
                    (AdvertisingData.MANUFACTURER_SPECIFIC_DATA, manufacturer),
                    (AdvertisingData.SERVICE_DATA_16_BIT_UUID, bthome),
                ]
            )
        )

    def build(self) -> list[Service]:
        return []

    def get(self, key):
        return {'temperature': self.temperature, 'humidity': self.humidity, 'counter': self.counter}[key]

    async def set(self, key, value):
        if key not in ('temperature', 'humidity'):
            raise KeyError(key)
        setattr(self, key, float(value))
        self.counter += 1
        if not self.silent:
            await self.advertise()

    async def advertise(self) -> None:
        async with self.lock:
            await self.device.start_advertising(
                advertising_type=AdvertisingType.UNDIRECTED,
                own_address_type=hci.OwnAddressType.PUBLIC if self.public else hci.OwnAddressType.RANDOM,
                advertising_data=self.advertising_data(),
                advertising_interval_min=100,
                advertising_interval_max=100,
            )

    async def repeat_advertising(self, period_s: float) -> None:
        """On a kernel controller of BlueZ's btvirt: advertise again every period, as a radio does.

        btvirt (emulator/btdev.c) reports an advertiser to scanning controllers only at the moment its
        advertising is enabled, or a scanner enables scanning; over the air every advertising event is
        heard. Without this, a scanner that was not scanning at the moment the beacon's data changed
        (bluetoothd restarts its LE discovery every 10.24 s) hears the change only at its next restart.
        Only the beacon: it is never connectable, so re-enabling cannot race a connection request."""
        while True:
            await asyncio.sleep(period_s)
            async with self.lock:
                adv = self.device.legacy_advertising_set or self.device.legacy_advertiser
                if self.silent or adv is None:
                    continue
                try:
                    await adv.stop()
                    await adv.start()
                except Exception as e:  # noqa: BLE001 - said, and tried again next period
                    logging.warning('beacon: advertising again failed: %s', e)


async def start_peripheral(p: Peripheral, address: str, public: bool, local_name: str, service_uuid: str | None, interval_ms: int,
                           host: Host | None = None):
    # on a kernel controller (host given) the peripheral restarts advertising itself after a link ends, so
    # that going out of range can stop it (Bumble's auto-restart would advertise again after the disconnect)
    own_restart = host is not None
    host = host or Host(p.controller, AsyncPipeSink(p.controller))
    p.public = public
    p.device = Device(name=local_name, address=hci.Address(address, hci.Address.RANDOM_DEVICE_ADDRESS), host=host)
    p.device.add_services(p.build())
    await p.device.power_on()
    enforce_properties(p.device)
    if isinstance(p, Beacon):
        await p.advertise()
        return
    ads = [(AdvertisingData.FLAGS, bytes([0x06])), (AdvertisingData.COMPLETE_LOCAL_NAME, local_name.encode())]
    scan_response = []
    if service_uuid:
        scan_response.append((AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS, UUID(service_uuid).to_bytes()))

    async def advertise() -> None:
        await p.device.start_advertising(
            advertising_type=AdvertisingType.UNDIRECTED_CONNECTABLE_SCANNABLE,
            own_address_type=hci.OwnAddressType.PUBLIC if public else hci.OwnAddressType.RANDOM,
            auto_restart=not own_restart,
            advertising_data=bytes(AdvertisingData(ads)),
            scan_response_data=bytes(AdvertisingData(scan_response)),
            advertising_interval_min=interval_ms,
            advertising_interval_max=interval_ms,
        )

    p.advertise_again = advertise
    if own_restart:
        def on_connection(connection) -> None:
            connection.on('disconnection', lambda _reason: None if p.silent else asyncio.create_task(advertise()))

        p.device.on('connection', on_connection)
    await advertise()


async def go_silent(p: Peripheral) -> None:
    """Out of range on a kernel controller: no more advertising, every link ended now."""
    p.silent = True
    if isinstance(p, Beacon):
        async with p.lock:
            await p.device.stop_advertising()
        return
    await p.device.stop_advertising()
    for connection in list(p.device.connections.values()):
        await connection.disconnect()


async def come_back(p: Peripheral) -> None:
    if not p.silent:
        return  # in range already: advertising, or connected (then it advertises again when the link ends)
    p.silent = False
    await (p.advertise() if isinstance(p, Beacon) else p.advertise_again())


async def main() -> None:
    ap = argparse.ArgumentParser(description='edgetwin emulated BLE peripherals (Bumble)')
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument('--pty', help='path of the symlink to the adapter PTY (noble opens it)')
    where.add_argument('--hci-socket', help='N[,L,B]: the sensor on the kernel controller hciN (lamp on hciL, beacon on hciB)')
    ap.add_argument('--interval-ms', type=int, default=50, help='advertising interval')
    args = ap.parse_args()
    logging.basicConfig(level=os.environ.get('EDGETWIN_BUMBLE_LOG', 'WARNING'), stream=sys.stderr)

    link: FixedLink | None = None
    repeaters: list[asyncio.Task] = []
    if args.hci_socket is not None:
        indexes = [int(i) for i in args.hci_socket.split(',')]
        if not 1 <= len(indexes) <= 3:
            ap.error('--hci-socket takes 1 to 3 controller numbers: sensor[,lamp[,beacon]]')
        made = [Sensor('sensor', None), Lamp('lamp', None), Beacon('beacon', None)][: len(indexes)]
        transports = []
        ready_devices = {}
        for p, index, (address, public, name, service) in zip(made, indexes, [
            (SENSOR_ADDRESS, True, 'CC2650 SensorTag', IR_SERVICE),
            (LAMP_ADDRESS, False, 'ET-Lamp', LAMP_SERVICE),
            (BEACON_ADDRESS, False, 'ET-Beacon', None),
        ]):
            t = await open_transport(f'hci-socket:{index}')
            transports.append(t)
            await start_peripheral(p, address, public, name, service, args.interval_ms, host=Host(t.source, t.sink))
            ready_devices[p.name] = {
                # the sensor has its controller's public address, the others their random static one
                'address': p.device.public_address.to_string(False) if public else address,
                'addressType': 'public' if public else 'random',
                'name': name,
                'hciSocket': index,
            }
        peripherals = {p.name: p for p in made}
        ready = {'event': 'ready', 'hciSocket': indexes[0], 'devices': ready_devices}
        repeaters = [asyncio.create_task(p.repeat_advertising(1.0)) for p in made if isinstance(p, Beacon)]
    else:
        # a stale symlink (Bumble's survives SIGTERM) would make open_transport fail
        if os.path.islink(args.pty):
            os.unlink(args.pty)

        link = FixedLink()
        transport = await open_transport(f'pty:{args.pty}')
        adapter = FixedController('adapter', host_source=transport.source, host_sink=transport.sink, link=link,
                                  public_address=ADAPTER_ADDRESS)

        def ctrl(name: str, address: str) -> FixedController:
            return FixedController(name, link=link, public_address=address)

        peripherals = {
            'sensor': Sensor('sensor', ctrl('sensor', SENSOR_ADDRESS)),
            'lamp': Lamp('lamp', ctrl('lamp', '00:00:00:00:00:00')),
            'beacon': Beacon('beacon', ctrl('beacon', '00:00:00:00:00:00')),
        }
        await start_peripheral(peripherals['sensor'], SENSOR_ADDRESS, True, 'CC2650 SensorTag', IR_SERVICE, args.interval_ms)
        await start_peripheral(peripherals['lamp'], LAMP_ADDRESS, False, 'ET-Lamp', LAMP_SERVICE, args.interval_ms)
        await start_peripheral(peripherals['beacon'], BEACON_ADDRESS, False, 'ET-Beacon', None, args.interval_ms)
        ready = {
            'event': 'ready',
            'pty': args.pty,
            'adapter': ADAPTER_ADDRESS,
            'devices': {
                'sensor': {'address': SENSOR_ADDRESS, 'addressType': 'public', 'name': 'CC2650 SensorTag'},
                'lamp': {'address': LAMP_ADDRESS, 'addressType': 'random', 'name': 'ET-Lamp'},
                'beacon': {'address': BEACON_ADDRESS, 'addressType': 'random', 'name': 'ET-Beacon'},
            },
        }

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)

    emit(ready)

    async def command(msg: dict):
        cmd = msg.get('cmd')
        p = peripherals.get(msg.get('device', ''))
        if cmd == 'ping':
            return None
        if p is None:
            raise KeyError(f'device {msg.get("device")!r}')
        if cmd == 'get':
            return p.get(msg['key'])
        if cmd == 'set':
            await p.set(msg['key'], msg['value'])
            return None
        if cmd == 'refuse-writes':  # answer writes with this ATT error code (0 = accept again)
            p.refuse_writes = int(msg.get('code', att.ATT_WRITE_NOT_PERMITTED_ERROR))
            return None
        if cmd in ('out-of-range', 'in-range') and link is None:
            await (go_silent(p) if cmd == 'out-of-range' else come_back(p))
            return None
        if cmd == 'drop-link' and link is None:
            raise KeyError(f'{cmd} needs the emulated link (--pty)')
        if cmd == 'out-of-range':  # the radio goes silent: no data, no advertising; after the supervision
            # timeout (default 1 s, a real link's is 0.1-32 s) both ends declare the links lost
            link.out_of_range.add(p.controller)
            loop.call_later(float(msg.get('supervision_ms', 1000)) / 1000, link.drop_links, p.controller)
            return None
        if cmd == 'in-range':
            link.out_of_range.discard(p.controller)
            return None
        if cmd == 'drop-link':  # the link is lost (e.g. interference), the device stays in range
            link.drop_links(p.controller)
            return None
        if cmd == 'connections':
            return len(p.device.connections) if link is None else len(p.controller.le_connections)
        raise KeyError(f'command {cmd!r}')

    async def read_stdin():
        reader = asyncio.StreamReader()
        try:
            await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        except (PermissionError, ValueError):
            return  # stdin is a file or /dev/null: no control channel, run until a signal
        while not stop.is_set():
            line = await reader.readline()
            if not line:
                stop.set()  # the launcher is gone
                return
            try:
                msg = json.loads(line)
            except json.JSONDecodeError as e:
                emit({'ok': False, 'error': f'bad JSON: {e}'})
                continue
            try:
                value = await command(msg)
                emit({'id': msg.get('id'), 'ok': True, 'value': value})
            except Exception as e:  # an answer, never a dead simulator
                emit({'id': msg.get('id'), 'ok': False, 'error': f'{type(e).__name__}: {e}'})

    reader_task = asyncio.create_task(read_stdin())
    await stop.wait()
    reader_task.cancel()
    for r in repeaters:
        r.cancel()
    if link is None:
        for t in transports:
            await t.close()
    else:
        await transport.close()  # removes the PTY symlink


if __name__ == '__main__':
    asyncio.run(main())
