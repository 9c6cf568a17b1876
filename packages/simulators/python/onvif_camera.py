"""The emulated ONVIF camera of the camera tests (issue 13): ipycam 1.3.0, run from its library, on loopback.

ipycam as shipped binds 0.0.0.0 and multicasts WS-Discovery Hello/Bye off the machine. This launcher runs the
shipped camera code unchanged (its ONVIF replies keep their flaws: the mapper must tolerate them, see
docs/decisions.md, issue 13) but sandboxes its network: the ONVIF/HTTP and RTSP servers bind 127.0.0.1 only,
WS-Discovery answers unicast Probes on a loopback UDP port and never announces, go2rtc is taken as absent (ipycam then serves RTSP itself through
Debian's ffmpeg), and any datagram to a multicast address raises instead of leaving the process.
Frames are generated: a gradient with a moving square and a frame counter.

Usage: onvif_camera.py --user NAME --password-file FILE [--onvif-port N] [--rtsp-port N] [--width W --height H --fps F]
Prints one JSON line {"event":"ready","onvifPort":N,"rtspPort":N,...} when serving. Then reads JSON lines on
stdin: {"id":1,"cmd":"ptz-get"} | {"cmd":"ptz-set","pan":..,"tilt":..,"zoom":..} | {"cmd":"presets"} |
{"cmd":"down"} (servers close, ports refuse) | {"cmd":"up"} (the camera comes back on the same ports) |
{"cmd":"frames"} (frames fed so far); answers {"id":1,"ok":true,"value":...}. Stops on SIGTERM or stdin EOF.
"""

import argparse
import ipaddress
import json
import signal
import socket
import sys
import threading
import time

import numpy as np

_sendto = socket.socket.sendto


def _no_multicast_sendto(self, data, *args):
    """Refuse any datagram to a multicast address: tests send nothing but loopback traffic."""
    addr = args[-1] if args else None
    if isinstance(addr, tuple) and addr:
        try:
            if ipaddress.ip_address(addr[0]).is_multicast:
                raise PermissionError(f"onvif_camera: refusing to send to multicast address {addr[0]}")
        except ValueError:
            pass
    return _sendto(self, data, *args)


socket.socket.sendto = _no_multicast_sendto

import ipycam.camera as camera_module  # noqa: E402  (after the guard above)
from ipycam import CameraConfig, IPCamera  # noqa: E402


class LoopbackDiscovery(camera_module.WSDiscoveryServer):
    """ipycam's WSDiscoveryServer with its socket on 127.0.0.1 (a unicast port, no multicast membership) and no
    Hello/Bye announcements: its own run() still answers a unicast Probe with its own ProbeMatch, which is what
    `edgetwin probe onvif --target` is tested against. The port is kept across down/up."""

    port = 0

    def __init__(self, onvif):
        threading.Thread.__init__(self, daemon=True)
        self.onvif = onvif
        self.running = True
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", LoopbackDiscovery.port))
        LoopbackDiscovery.port = self.sock.getsockname()[1]
        self.sock.settimeout(1.0)

    def _send_announcement(self, action):
        pass


class LoopbackHTTPServer(camera_module.ReusableThreadingTCPServer):
    def __init__(self, address, handler):
        super().__init__(("127.0.0.1", address[1]), handler)


class LoopbackRTSPServer(camera_module.NativeRTSPServer):
    def __init__(self, port=8554, host="127.0.0.1"):
        super().__init__(port=port, host="127.0.0.1")


camera_module.WSDiscoveryServer = LoopbackDiscovery
camera_module.ReusableThreadingTCPServer = LoopbackHTTPServer
camera_module.NativeRTSPServer = LoopbackRTSPServer
camera_module.check_go2rtc_running = lambda *a, **k: False
camera_module.is_webrtc_available = lambda: False


def free_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Feeder(threading.Thread):
    """Streams generated frames into the camera at its frame rate (ipycam paces stream() itself)."""

    def __init__(self, width: int, height: int):
        super().__init__(daemon=True)
        self.width, self.height = width, height
        self.camera = None
        self.frames = 0
        self.running = True
        y = np.linspace(0, 255, height, dtype=np.uint8)[:, None]
        x = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
        self.base = np.dstack([np.broadcast_to(x, (height, width)), np.broadcast_to(y, (height, width)),
                               np.full((height, width), 96, np.uint8)]).copy()

    def run(self):
        side = max(8, self.height // 6)
        while self.running:
            cam = self.camera
            if cam is None or not cam.is_running:
                time.sleep(0.05)
                continue
            frame = self.base.copy()
            x = (self.frames * 7) % max(1, self.width - side)
            frame[side:2 * side, x:x + side] = (255, 255, 255)
            try:
                cam.stream(frame)
                self.frames += 1
            except Exception as e:  # a camera stopped meanwhile: wait for the next one
                print(json.dumps({"event": "log", "message": f"stream: {e}"}), flush=True)
                time.sleep(0.05)


def make_camera(args, onvif_port: int, rtsp_port: int, password: str) -> IPCamera:
    config = CameraConfig(
        name=args.name,
        manufacturer="edgetwin-test",
        model="ipycam-loopback",
        serial_number=args.serial,
        local_ip="127.0.0.1",
        onvif_port=onvif_port,
        rtsp_port=rtsp_port,
        main_width=args.width,
        main_height=args.height,
        main_fps=args.fps,
        main_bitrate="1M",
        sub_width=max(16, args.width // 2),
        sub_height=max(16, args.height // 2),
        sub_fps=args.fps,
        sub_bitrate="256K",
        show_timestamp=False,
    )
    ok, err = config.set_credentials(args.user, password)
    if not ok:
        raise SystemExit(f"onvif_camera: credentials refused: {err}")
    return IPCamera(config)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--user", required=True)
    ap.add_argument("--password-file", required=True)
    ap.add_argument("--onvif-port", type=int, default=0)
    ap.add_argument("--rtsp-port", type=int, default=0)
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--height", type=int, default=240)
    ap.add_argument("--fps", type=int, default=5)
    ap.add_argument("--name", default="Loopback Camera")
    ap.add_argument("--serial", default="EDGETWIN-0001")
    args = ap.parse_args()
    with open(args.password_file, encoding="utf-8") as f:
        password = f.read().rstrip("\n")
    onvif_port = args.onvif_port or free_port()
    rtsp_port = args.rtsp_port or free_port()

    feeder = Feeder(args.width, args.height)
    state = {"camera": make_camera(args, onvif_port, rtsp_port, password)}
    if not state["camera"].start() or state["camera"].rtsp_server is None:
        raise SystemExit("onvif_camera: the camera did not start its RTSP server (is ffmpeg on PATH?)")
    feeder.camera = state["camera"]
    feeder.start()

    stopping = threading.Event()

    def stop(*_):
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    lock = threading.Lock()
    out_lock = threading.Lock()

    def reply(msg):
        with out_lock:
            sys.stdout.write(json.dumps(msg) + "\n")
            sys.stdout.flush()

    def handle(msg):
        cmd = msg.get("cmd")
        with lock:
            cam = state["camera"]
            if cmd == "ptz-get":
                return cam.ptz.get_status()
            if cmd == "ptz-set":
                cam.ptz.absolute_move(msg.get("pan"), msg.get("tilt"), msg.get("zoom"))
                return cam.ptz.get_status()
            if cmd == "presets":
                return {t: {"name": p.name, "pan": p.pan, "tilt": p.tilt, "zoom": p.zoom}
                        for t, p in cam.ptz.get_presets().items()}
            if cmd == "frames":
                return feeder.frames
            if cmd == "down":
                if cam.is_running:
                    feeder.camera = None
                    cam.stop()
                return True
            if cmd == "up":
                if not cam.is_running:
                    cam = make_camera(args, onvif_port, rtsp_port, password)
                    if not cam.start():
                        raise RuntimeError("camera did not start again")
                    state["camera"] = cam
                    feeder.camera = cam
                return True
        raise ValueError(f"unknown command {cmd!r}")

    def read_commands():
        for line in sys.stdin:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            try:
                reply({"id": msg.get("id"), "ok": True, "value": handle(msg)})
            except Exception as e:
                reply({"id": msg.get("id"), "ok": False, "error": str(e)})
        stopping.set()

    reply({"event": "ready", "onvifPort": onvif_port, "rtspPort": rtsp_port, "discoveryPort": LoopbackDiscovery.port,
           "onvifUrl": f"http://127.0.0.1:{onvif_port}/onvif/device_service",
           "width": args.width, "height": args.height})
    threading.Thread(target=read_commands, daemon=True).start()
    stopping.wait()
    feeder.running = False
    with lock:
        if state["camera"].is_running:
            state["camera"].stop()


if __name__ == "__main__":
    main()
