// mqtt-packet (the codec of aedes and mqtt.js) builds, on its first write, a cache of 65,536 two-byte Buffers
// for packet ids and lengths: ~6.5 MiB of heap for the life of the process, in every process with a broker or a
// client (issue 15, target 3: a heap snapshot of the 1,000-device edge, bench/shipping.ts). Writing a number
// without it allocates two bytes. Turned off before anything is written: once built, the cache stays.
import mqttPacket from 'mqtt-packet';

/** Turns mqtt-packet's number cache off for this process (idempotent; call before the first broker/client write). */
export function withoutPacketIdCache(): void {
  mqttPacket.writeToStream.cacheNumbers = false;
}
