// The client's PKI and the server-certificate trust decision (issue 11, "Connection"). The application
// certificate is created once under <dataDir>/pki (node-opcua does it on first connect) and reused. A server
// certificate is trusted only when it is pinned (`remoteCertificate`), found in `trustFolder`, or, with
// the explicit `trustOnFirstUse`, when it is the one first seen from that endpoint (its SHA-1 thumbprint is
// logged and remembered under <dataDir>/tofu; a different certificate later is refused).

import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OPCUACertificateManager } from 'node-opcua-certificate-manager';
import { type StatusCode, StatusCodes } from 'node-opcua-client';
import type { Logger } from 'pino';
import type { OpcuaProtocolConfig } from './config.js';

/** A certificate file (PEM or DER) as DER, or the first certificate of a PEM chain. */
export function readCertificate(file: string): Buffer {
  const buf = readFileSync(file);
  const text = buf.toString('latin1');
  const m = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(text);
  return m ? Buffer.from((m[1] ?? '').replace(/\s+/g, ''), 'base64') : buf;
}

export function thumbprint(der: Buffer): string {
  return createHash('sha1').update(der).digest('hex').match(/../g)?.join(':') ?? '';
}

/** The first certificate of a DER chain (a server may send its chain concatenated). */
function firstOfChain(chain: Buffer): Buffer {
  // DER SEQUENCE: 0x30, then a length (short or long form)
  if (chain[0] !== 0x30 || chain.length < 4) return chain;
  const l1 = chain[1] ?? 0;
  if (l1 < 0x80) return chain.subarray(0, 2 + l1);
  const n = l1 & 0x7f;
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + (chain[2 + i] ?? 0);
  return chain.subarray(0, 2 + n + len);
}

export interface TrustDecision {
  ok: boolean;
  reason: string;
}

export class ServerTrust {
  constructor(
    private readonly cfg: OpcuaProtocolConfig,
    private readonly dataDir: string,
    private readonly logger: Logger,
  ) {}

  decide(serverCertificate: Buffer | null | undefined): TrustDecision {
    // securityMode None signs and encrypts nothing: there is no server identity to trust
    if (this.cfg.securityMode === 'None') return { ok: true, reason: 'securityMode None' };
    if (!serverCertificate || serverCertificate.length === 0)
      return { ok: false, reason: 'the server sent no certificate' };
    const der = firstOfChain(serverCertificate);
    const print = thumbprint(der);
    if (this.cfg.remoteCertificate !== undefined) {
      const pinned = thumbprint(readCertificate(this.cfg.remoteCertificate));
      return pinned === print
        ? { ok: true, reason: `pinned certificate ${print}` }
        : {
            ok: false,
            reason: `server certificate ${print} is not the pinned ${pinned} (${this.cfg.remoteCertificate})`,
          };
    }
    if (this.cfg.trustFolder !== undefined) {
      const known = existsSync(this.cfg.trustFolder)
        ? readdirSync(this.cfg.trustFolder)
            .filter((f) => /\.(der|pem|crt|cer)$/i.test(f))
            .map((f) => thumbprint(readCertificate(join(this.cfg.trustFolder as string, f))))
        : [];
      if (known.includes(print)) return { ok: true, reason: `certificate ${print} is in ${this.cfg.trustFolder}` };
      if (!this.cfg.trustOnFirstUse)
        return { ok: false, reason: `server certificate ${print} is not in the trust folder ${this.cfg.trustFolder}` };
    }
    if (this.cfg.trustOnFirstUse) {
      const dir = join(this.dataDir, 'tofu');
      const file = join(dir, `${this.cfg.url.replace(/[^A-Za-z0-9.-]+/g, '_')}.sha1`);
      if (!existsSync(file)) {
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        writeFileSync(file, `${print}\n`, { mode: 0o600 });
        this.logger.warn(
          { endpoint: this.cfg.url, fingerprint: print, rememberedIn: file },
          `trusting the OPC-UA server certificate on first use: SHA-1 ${print}; check it with the server's operator`,
        );
        return { ok: true, reason: `trusted on first use (${print})` };
      }
      const first = readFileSync(file, 'utf8').trim();
      return first === print
        ? { ok: true, reason: `same certificate as first use (${print})` }
        : {
            ok: false,
            reason: `server certificate changed: ${print}, first seen ${first} (delete ${file} to trust the new one)`,
          };
    }
    return {
      ok: false,
      reason: `server certificate ${print} is not trusted: pin it (remoteCertificate), add it to trustFolder, or set trustOnFirstUse`,
    };
  }
}

/**
 * The client's certificate manager: its own certificate under <dataDir>/pki, and the server certificate
 * judged by ServerTrust (node-opcua's own store would refuse every self-signed server certificate).
 */
export async function clientCertificateManager(
  dataDir: string,
  trust: ServerTrust,
  onDecision: (d: TrustDecision) => void,
  ownCertificateFile?: string,
): Promise<OPCUACertificateManager> {
  const cm = new OPCUACertificateManager({
    rootFolder: join(dataDir, 'pki'),
    automaticallyAcceptUnknownCertificate: false,
  });
  await cm.initialize();
  const ownFile = ownCertificateFile ?? join(dataDir, 'pki', 'own', 'certs', 'client_certificate.pem');
  const judge = async (chain: Buffer | Buffer[]): Promise<StatusCode> => {
    const cert = Array.isArray(chain) ? Buffer.concat(chain) : chain;
    // node-opcua also checks the client's own certificate with this manager: that one is ours
    if (existsSync(ownFile) && thumbprint(readCertificate(ownFile)) === thumbprint(firstOfChain(cert)))
      return StatusCodes.Good;
    const d = trust.decide(cert);
    onDecision(d);
    return d.ok ? StatusCodes.Good : StatusCodes.BadCertificateUntrusted;
  };
  (cm as unknown as { checkCertificate: typeof judge }).checkCertificate = judge;
  // verifyCertificate (node-opcua-pki) answers a status *name*; a StatusCode object there made node-opcua
  // warn "[NODE-OPCUA-W35] the certificate status is Good" at every connect
  (cm as unknown as { verifyCertificate: (c: Buffer | Buffer[]) => Promise<string> }).verifyCertificate = async (c) =>
    (await judge(c)).name;
  return cm;
}
