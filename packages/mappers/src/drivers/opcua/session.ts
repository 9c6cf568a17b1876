// Opening an OPC-UA client session from an OpcuaProtocolConfig (issue 11, "Connection"): the one place
// that turns the config into node-opcua's client options (security mode/policy, application certificate,
// server-certificate trust, user identity, timeouts), used by the device driver and by `edgetwin probe opcua`
// so both connect, and fail, the same way.

import { readFileSync } from 'node:fs';
import {
  type ClientSession,
  MessageSecurityMode,
  OPCUAClient,
  SecurityPolicy,
  type UserIdentityInfo,
  UserTokenType,
} from 'node-opcua-client';
import type { Logger } from 'pino';
import { DriverError } from '../../framework/driver.js';
import type { OpcuaProtocolConfig } from './config.js';
import { clientCertificateManager, readCertificate, ServerTrust, type TrustDecision } from './trust.js';

const MODES: Record<OpcuaProtocolConfig['securityMode'], MessageSecurityMode> = {
  None: MessageSecurityMode.None,
  Sign: MessageSecurityMode.Sign,
  SignAndEncrypt: MessageSecurityMode.SignAndEncrypt,
};
const POLICIES: Record<OpcuaProtocolConfig['securityPolicy'], SecurityPolicy> = {
  None: SecurityPolicy.None,
  Basic256Sha256: SecurityPolicy.Basic256Sha256,
  Aes128_Sha256_RsaOaep: SecurityPolicy.Aes128_Sha256_RsaOaep,
  Aes256_Sha256_RsaPss: SecurityPolicy.Aes256_Sha256_RsaPss,
};

export interface OpenSessionOptions {
  /** the mapper's data dir (application certificate under pki/, TOFU fingerprints under tofu/) */
  dataDir: string;
  logger: Logger;
  /** the client's name in the server's session list */
  clientName: string;
  /** what errors name, e.g. `device default/line-1 (opc.tcp://plc:4840)` */
  where: string;
  /** called once the client exists, before connecting, to watch it (connection_lost, close, ...) */
  watch?: (client: OPCUAClient) => void;
}

export interface OpcuaConnection {
  client: OPCUAClient;
  session: ClientSession;
}

/** The user identity token of a config: the password read from its file, a certificate from its files. */
export function userIdentity(cfg: OpcuaProtocolConfig, where: string): UserIdentityInfo {
  const id = cfg.identity;
  const read = (file: string, what: string, encoding: BufferEncoding = 'utf8') => {
    try {
      return readFileSync(file, encoding);
    } catch (e) {
      throw new DriverError(`${where}: cannot read the ${what} ${file}: ${(e as Error).message}`, 'config', false);
    }
  };
  if (id.kind === 'username')
    return {
      type: UserTokenType.UserName,
      userName: id.userName,
      password: read(id.passwordFile, 'password file').replace(/\r?\n$/, ''),
    };
  if (id.kind === 'certificate') {
    read(id.certificateFile, 'user certificate');
    return {
      type: UserTokenType.Certificate,
      certificateData: readCertificate(id.certificateFile),
      privateKey: read(id.privateKeyFile, 'user private key'),
    } as UserIdentityInfo;
  }
  return { type: UserTokenType.Anonymous };
}

/**
 * Connects (one attempt: callers retry with the framework's backoff) and opens a session. A server
 * certificate that is not trusted fails with the trust decision's reason and `retryable: false`.
 */
export async function openOpcuaSession(cfg: OpcuaProtocolConfig, opts: OpenSessionOptions): Promise<OpcuaConnection> {
  let lastTrust: TrustDecision | undefined;
  const trust = new ServerTrust(cfg, opts.dataDir, opts.logger);
  const cm = await clientCertificateManager(
    opts.dataDir,
    trust,
    (d) => {
      lastTrust = d;
    },
    cfg.certificateFile,
  );
  const client = OPCUAClient.create({
    applicationName: 'edgetwin-opcua-mapper',
    applicationUri: 'urn:edgetwin:opcua-mapper',
    clientName: opts.clientName,
    endpointMustExist: false,
    securityMode: MODES[cfg.securityMode],
    securityPolicy: POLICIES[cfg.securityPolicy],
    connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 100 },
    requestedSessionTimeout: cfg.sessionTimeoutMs,
    keepSessionAlive: true,
    keepAliveInterval: Math.max(1000, Math.min(10_000, Math.floor(cfg.sessionTimeoutMs / 3))),
    defaultTransactionTimeout: cfg.timeoutMs,
    transportTimeout: cfg.timeoutMs,
    clientCertificateManager: cm,
    ...(cfg.certificateFile && cfg.privateKeyFile
      ? { certificateFile: cfg.certificateFile, privateKeyFile: cfg.privateKeyFile }
      : {}),
  });
  opts.watch?.(client);
  try {
    await withDeadline(client.connect(cfg.url), cfg.timeoutMs + 2000, `connecting to ${cfg.url}`);
  } catch (e) {
    await closeOpcua({ client });
    const trustProblem = lastTrust && !lastTrust.ok ? `: ${lastTrust.reason}` : '';
    throw new DriverError(
      `${opts.where}: cannot connect${trustProblem || `: ${(e as Error).message}`}`,
      'connection',
      !trustProblem,
      { cause: e },
    );
  }
  try {
    const session = await client.createSession(userIdentity(cfg, opts.where));
    return { client, session };
  } catch (e) {
    await closeOpcua({ client });
    if (e instanceof DriverError) throw e;
    throw new DriverError(`${opts.where}: session refused: ${(e as Error).message}`, 'connection', true, {
      cause: e,
    });
  }
}

/** Closes what is open, each step bounded (a dead server must not hold a shutdown). */
export async function closeOpcua(c: Partial<OpcuaConnection>): Promise<void> {
  if (c.session) await withDeadline(c.session.close(), 1000, 'closing').catch(() => undefined);
  if (c.client) await withDeadline(c.client.disconnect(), 2000, 'disconnecting').catch(() => undefined);
}

export function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
