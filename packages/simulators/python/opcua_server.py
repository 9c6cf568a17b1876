"""An OPC-UA server on the asyncua stack (not node-opcua), for the OPC-UA mapper's interop tests (issue 11).

Serves namespace urn:edgetwin:asyncua with object Line1: one variable of every type the mapper maps, a
read-only one, an array, a Reset(Int32) method that sets Counter, and object Oven with an analog
Temperature (EURange 0..250, EngineeringUnits °C). asyncua enforces neither the
endpoint's security nor the token type by itself, so this script does: with --secure (Basic256Sha256) or
--policies P,... (Basic256Sha256, Aes128Sha256RsaOaep, Aes256Sha256RsaPss) sessions are opened only on
SignAndEncrypt channels of those policies; with --users only those user names and passwords get a
session, and with --user-cert only the X.509 user of that certificate (anonymous is then refused).
--make-user-cert DIR writes a user certificate and key there (user-cert.der, user-key.pem) and trusts it.

Usage: opcua_server.py --port N --pki DIR [--secure | --policies P,...] [--users FILE] [--user-cert FILE |
       --make-user-cert DIR]   (FILE of --users: one "name:password" per line)
Prints "READY opc.tcp://127.0.0.1:N" when serving; stops on SIGTERM.
"""

import argparse
import asyncio
import datetime
import signal
import uuid
from pathlib import Path

from asyncua import Server, ua
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from asyncua.server.uaprocessor import UaProcessor
from asyncua.server.user_managers import UserManager
from asyncua.crypto.permission_rules import User, UserRole
from cryptography.x509.oid import ExtendedKeyUsageOID

NS_URI = "urn:edgetwin:asyncua"
POLICIES = {
    "Basic256Sha256": (
        "http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256",
        ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
    ),
    "Aes128Sha256RsaOaep": (
        "http://opcfoundation.org/UA/SecurityPolicy#Aes128_Sha256_RsaOaep",
        ua.SecurityPolicyType.Aes128Sha256RsaOaep_SignAndEncrypt,
    ),
    "Aes256Sha256RsaPss": (
        "http://opcfoundation.org/UA/SecurityPolicy#Aes256_Sha256_RsaPss",
        ua.SecurityPolicyType.Aes256Sha256RsaPss_SignAndEncrypt,
    ),
}


class FileUsers(UserManager):
    """Users from a file and/or one X.509 user certificate; anonymous refused when either is given."""

    def __init__(self, users: dict[str, str] | None, user_cert: bytes | None = None):
        self.users = users
        self.user_cert = user_cert

    def get_user(self, iserver, username=None, password=None, certificate=None):
        if self.users is None and self.user_cert is None:
            return User(role=UserRole.User)
        if username is not None:
            ok = self.users is not None and self.users.get(username) == password
            return User(role=UserRole.User, name=username) if ok else None
        # an X.509 token (asyncua checked its signature) passes its certificate; other tokens pass the
        # channel's client certificate, which is never the user's
        if certificate is not None and self.user_cert is not None and certificate == self.user_cert:
            return User(role=UserRole.User, name="x509-user")
        return None


def enforce_secure_sessions(uris: set[str]) -> None:
    """Refuse sessions on any channel but SignAndEncrypt with one of these policies. A None channel still
    answers GetEndpoints (discovery, as real servers do); asyncua alone would also open sessions on it."""
    session_requests = (
        ua.NodeId(ua.ObjectIds.CreateSessionRequest_Encoding_DefaultBinary),
        ua.NodeId(ua.ObjectIds.ActivateSessionRequest_Encoding_DefaultBinary),
    )
    original = UaProcessor._process_message

    async def strict(self, typeid, requesthdr, seqhdr, body):
        policy = self._connection.security_policy
        if typeid in session_requests and (
            policy.URI not in uris or policy.Mode != ua.MessageSecurityMode.SignAndEncrypt
        ):
            raise ua.UaStatusCodeError(ua.StatusCodes.BadSecurityModeRejected)
        return await original(self, typeid, requesthdr, seqhdr, body)

    UaProcessor._process_message = strict


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pki", required=True)
    ap.add_argument("--secure", action="store_true")
    ap.add_argument("--variables", type=int, default=0, help="also serve Bench.V0..V<N-1> (Double), for the bench")
    ap.add_argument("--tick", type=int, default=0, help="ms between changes of every Bench variable (0: still)")
    ap.add_argument("--policies", help="comma-separated: " + ", ".join(POLICIES))
    ap.add_argument("--users")
    ap.add_argument("--user-cert", help="the X.509 user certificate (DER or PEM) allowed a session")
    ap.add_argument("--make-user-cert", help="write user-cert.der and user-key.pem here and allow that user")
    args = ap.parse_args()
    policies = args.policies.split(",") if args.policies else (["Basic256Sha256"] if args.secure else [])
    for p in policies:
        if p not in POLICIES:
            ap.error(f"--policies: {p} is not one of {', '.join(POLICIES)}")

    users = None
    if args.users:
        users = {}
        for line in Path(args.users).read_text().splitlines():
            if ":" in line:
                name, password = line.split(":", 1)
                users[name] = password

    user_cert = None
    if args.make_user_cert:
        d = Path(args.make_user_cert)
        d.mkdir(parents=True, exist_ok=True)
        await setup_self_signed_certificate(
            d / "user-key.pem", d / "user-cert.der", "urn:edgetwin:asyncua:user", "127.0.0.1",
            [ExtendedKeyUsageOID.CLIENT_AUTH], {"commonName": "edgetwin x509 user"},
        )
        args.user_cert = str(d / "user-cert.der")
    if args.user_cert:
        raw = Path(args.user_cert).read_bytes()
        if raw.startswith(b"-----BEGIN"):
            from cryptography import x509
            from cryptography.hazmat.primitives.serialization import Encoding
            raw = x509.load_pem_x509_certificate(raw).public_bytes(Encoding.DER)
        user_cert = raw

    server = Server(user_manager=FileUsers(users, user_cert))
    await server.init()
    url = f"opc.tcp://127.0.0.1:{args.port}"
    server.set_endpoint(url)
    server.set_server_name("edgetwin asyncua interop server")
    await server.set_application_uri("urn:edgetwin:asyncua:server")
    # keep the endpoint URL as given (asyncua otherwise rewrites it to the host name)
    pki = Path(args.pki)
    pki.mkdir(parents=True, exist_ok=True)
    key, cert = pki / "server-key.pem", pki / "server-cert.der"
    await setup_self_signed_certificate(
        key, cert, "urn:edgetwin:asyncua:server", "127.0.0.1",
        [ExtendedKeyUsageOID.SERVER_AUTH], {"commonName": "edgetwin asyncua interop"},
    )
    await server.load_certificate(str(cert))
    await server.load_private_key(str(key))
    if policies:
        server.set_security_policy([POLICIES[p][1] for p in policies])
        enforce_secure_sessions({POLICIES[p][0] for p in policies})
    else:
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    tokens = []
    if users is None and user_cert is None:
        tokens += [ua.AnonymousIdentityToken, ua.UserNameIdentityToken]
    if users is not None:
        tokens.append(ua.UserNameIdentityToken)
    if user_cert is not None:
        tokens.append(ua.X509IdentityToken)
    server.set_identity_tokens(tokens)

    idx = await server.register_namespace(NS_URI)
    line = await server.nodes.objects.add_object(ua.NodeId("Line1", idx), ua.QualifiedName("Line1", idx))

    async def var(name, value, vtype, writable=True, array=False):
        v = await line.add_variable(
            ua.NodeId(name, idx), ua.QualifiedName(name, idx), ua.Variant(value, vtype, is_array=array) if array else ua.Variant(value, vtype)
        )
        if writable:
            await v.set_writable()
        return v

    await var("Bool", True, ua.VariantType.Boolean)
    await var("SByte", -5, ua.VariantType.SByte)
    await var("Byte", 200, ua.VariantType.Byte)
    await var("Int16", -1234, ua.VariantType.Int16)
    await var("UInt16", 65000, ua.VariantType.UInt16)
    await var("Int32", -70000, ua.VariantType.Int32)
    await var("UInt32", 4000000000, ua.VariantType.UInt32)
    await var("Int64", 2**53 + 1, ua.VariantType.Int64)
    await var("UInt64", 2**64 - 1, ua.VariantType.UInt64)
    await var("Float", 12.3, ua.VariantType.Float)
    await var("Double", 3.141592653589793, ua.VariantType.Double)
    await var("String", "zürich", ua.VariantType.String)
    await var("Text", ua.LocalizedText("hello", "en"), ua.VariantType.LocalizedText)
    await var("Time", datetime.datetime(2026, 12, 3, 5, 0, 0, 123000, tzinfo=datetime.timezone.utc), ua.VariantType.DateTime)
    await var("Bytes", b"\x01\x02\x03", ua.VariantType.ByteString)
    await var("Guid", uuid.UUID("3f2504e0-4f89-11d3-9a0c-0305e82c3301"), ua.VariantType.Guid)
    await var("Series", [1.5, 2.0, 3.0], ua.VariantType.Double, array=True)
    await var("Serial", "SN-42", ua.VariantType.String, writable=False)
    counter = await var("Counter", 0, ua.VariantType.Int32)
    guid_node = await line.add_variable(
        ua.NodeId(uuid.UUID("72962b91-fa75-4ae6-8d28-b404dc7daf63"), idx), ua.QualifiedName("ByGuid", idx), ua.Variant(7, ua.VariantType.Int32)
    )
    await guid_node.set_writable()

    # an analog item one level down, with the EURange and EngineeringUnits properties `probe opcua` reads
    oven = await line.add_object(ua.NodeId("Line1.Oven", idx), ua.QualifiedName("Oven", idx))
    oven_temp = await oven.add_variable(
        ua.NodeId("Line1.Oven.Temperature", idx), ua.QualifiedName("Temperature", idx), ua.Variant(180.5, ua.VariantType.Double)
    )
    await oven_temp.add_property(ua.NodeId("Line1.Oven.Temperature.EURange", idx), ua.QualifiedName("EURange", 0), ua.Range(Low=0.0, High=250.0))
    await oven_temp.add_property(
        ua.NodeId("Line1.Oven.Temperature.EngineeringUnits", idx), ua.QualifiedName("EngineeringUnits", 0),
        ua.EUInformation(NamespaceUri="http://www.opcfoundation.org/UA/units/un/cefact", UnitId=4408652,
                         DisplayName=ua.LocalizedText("°C"), Description=ua.LocalizedText("degree Celsius")),
    )

    async def reset(parent, value):
        await counter.write_value(ua.Variant(value.Value, ua.VariantType.Int32))
        return []

    await line.add_method(
        ua.NodeId("Reset", idx), ua.QualifiedName("Reset", idx), reset, [ua.VariantType.Int32], []
    )

    bench_vars = []
    if args.variables > 0:
        bench = await server.nodes.objects.add_object(ua.NodeId("Bench", idx), ua.QualifiedName("Bench", idx))
        for i in range(args.variables):
            bench_vars.append(
                await bench.add_variable(ua.NodeId(f"Bench.V{i}", idx), ua.QualifiedName(f"V{i}", idx), ua.Variant(0.0, ua.VariantType.Double))
            )

    async def churn():
        n = 0
        while True:
            await asyncio.sleep(args.tick / 1000)
            n += 1
            for i, v in enumerate(bench_vars):
                await server.write_attribute_value(v.nodeid, ua.DataValue(ua.Variant(float(n * 1000 + i), ua.VariantType.Double)))

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    async with server:
        print(f"READY {url}", flush=True)
        churner = asyncio.create_task(churn()) if bench_vars and args.tick > 0 else None
        await stop.wait()
        if churner:
            churner.cancel()


if __name__ == "__main__":
    asyncio.run(main())
