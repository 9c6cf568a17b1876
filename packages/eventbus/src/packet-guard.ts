// Maximum MQTT packet size for the embedded broker (issue 9 §3): aedes buffers a packet until its
// declared remaining length has arrived, so a CONNECT declaring 200 MB grew the broker by 150 MB and
// stayed open. This guard reads only the fixed headers of the byte stream (type byte + remaining-length
// varint, MQTT 3.1.1 §2.2) and reports the first packet that declares more than the limit, before any of
// its body is buffered, so the connection can be closed at once.

/** 256 KiB payload limit (api MAX_PAYLOAD_BYTES) plus room for topic, headers and the twin's own answers. */
export const DEFAULT_MAX_PACKET_BYTES = 768 * 1024;

export class PacketSizeGuard {
  /** body bytes of the current packet still to pass */
  private skip = 0;
  /** fixed header bytes read so far of the next packet (type byte, then the varint) */
  private header: number[] = [];

  constructor(readonly maxBytes: number) {
    if (!Number.isInteger(maxBytes) || maxBytes < 2)
      throw new RangeError(`maximum packet size must be an integer of at least 2 bytes, got ${maxBytes}`);
  }

  /**
   * Feeds the next chunk of the inbound byte stream. Returns the declared size (fixed header + remaining
   * length) of the first packet that exceeds the limit, or undefined while every packet fits.
   */
  feed(chunk: Uint8Array): number | undefined {
    let i = 0;
    while (i < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - i);
        this.skip -= n;
        i += n;
        continue;
      }
      const byte = chunk[i++]!;
      this.header.push(byte);
      if (this.header.length === 1) continue;
      // A varint of more than 4 bytes is malformed; the MQTT parser refuses it, so stop counting here.
      if (byte & 0x80 && this.header.length < 5) continue;
      let remaining = 0;
      let multiplier = 1;
      for (let k = 1; k < this.header.length; k++) {
        remaining += (this.header[k]! & 0x7f) * multiplier;
        multiplier *= 128;
      }
      const total = this.header.length + remaining;
      this.header = [];
      if (total > this.maxBytes) return total;
      this.skip = remaining;
    }
    return undefined;
  }
}
