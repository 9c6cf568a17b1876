// The API of the event bus package that other packages code against.
import type { Logger } from 'pino';

/** A TLS client's certificate, as the broker saw it (listeners with `tls.requestCert`). */
export interface PeerCertificate {
  /** verified against the listener's `tls.ca` */
  authorized: boolean;
  /** the subject's common name, if any */
  commonName?: string;
}

export interface BrokerAuth {
  /** return true to accept the connection; `peer` is the client certificate, when the listener asks for one */
  authenticate?(
    clientId: string,
    username: string | undefined,
    password: Buffer | undefined,
    peer?: PeerCertificate,
  ): boolean | Promise<boolean>;
  /** return true if this client may publish on topic */
  authorizePublish?(client: { id: string; username?: string }, topic: string): boolean;
  /** return true if this client may subscribe to filter */
  authorizeSubscribe?(client: { id: string; username?: string }, filter: string): boolean;
  /**
   * return true if a message on `topic` may be delivered to this client (a wildcard subscription the
   * client was allowed, such as `#`, still does not carry topics it may not read)
   */
  authorizeRead?(client: { id: string; username?: string }, topic: string): boolean;
}

export interface BrokerTls {
  cert: string | Buffer;
  key: string | Buffer;
  /** CA certificates client certificates are verified against (with requestCert) */
  ca?: string | Buffer;
  /**
   * ask every client for a certificate (mTLS). The handshake does not fail without one: the verdict reaches
   * `auth.authenticate` as `peer`, so each identity decides (the controller's own client has none).
   */
  requestCert?: boolean;
}

export interface BrokerListener {
  host: string;
  /** 0 = ephemeral */
  port: number;
  tls?: BrokerTls;
  /** false: a client without a user name is refused on this listener (default true) */
  allowAnonymous?: boolean;
}

export interface BrokerOptions {
  host?: string; // default 127.0.0.1
  port?: number; // default 1883; 0 = ephemeral
  /** username/password table, or a full auth hook set */
  users?: Record<string, string>;
  auth?: BrokerAuth;
  tls?: BrokerTls;
  /**
   * more listeners on the same bus, each with its own address, TLS and anonymous policy (as Mosquitto's
   * `listener` with `per_listener_settings`): e.g. the edge's loopback listener for local apps plus a TLS
   * listener for the LAN where every client must log in
   */
  extraListeners?: BrokerListener[];
  /** directory for durable sessions (aedes-persistence-level); absent = in memory */
  persistenceDir?: string;
  /**
   * largest MQTT packet a client may send, in bytes (default 768 KiB: the 256 KiB payload limit plus room);
   * a client declaring a bigger one is disconnected before its body is read
   */
  maxPacketBytes?: number;
  logger?: Logger;
}

export interface RunningBroker {
  /** mqtt://host:port (or mqtts://) that clients dial */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export interface BusClientOptions {
  url: string;
  clientId?: string;
  username?: string;
  password?: string;
  /** CA certificate (PEM) for mqtts:// */
  ca?: string | Buffer;
  /** false = persistent session (QoS 1 messages queued while away) */
  clean?: boolean;
  will?: { topic: string; payload: string | Buffer; qos?: 0 | 1; retain?: boolean };
  /** first reconnect delay, doubled up to maxBackoffMs */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** how long connect() waits for the first CONNACK before rejecting with BusError */
  connectTimeoutMs?: number;
  logger?: Logger;
}

export type MessageHandler = (topic: string, payload: Buffer, packet: { retain: boolean; qos: number }) => void;

export interface BusClient {
  readonly connected: boolean;
  publish(topic: string, payload: string | Buffer, opts?: { qos?: 0 | 1; retain?: boolean }): Promise<void>;
  /** subscribe (QoS 1 by default); the handler gets only messages matching filter; kept across reconnects */
  subscribe(filter: string, handler: MessageHandler, opts?: { qos?: 0 | 1 }): Promise<() => Promise<void>>;
  /** called on every (re)connect, with sessionPresent */
  onConnect(listener: (sessionPresent: boolean) => void): () => void;
  onDisconnect(listener: (error?: Error) => void): () => void;
  close(): Promise<void>;
}
