// Splits the stream of an exec started without a TTY back into stdout and stderr. The daemon frames
// it: one byte for the stream (0 stdin, 1 stdout, 2 stderr), three zero bytes, a big-endian uint32
// length, then that many bytes. Frames arrive cut at arbitrary points, so the parser keeps the rest.

export type DockerStreamType = 'stdin' | 'stdout' | 'stderr';

const STREAM_TYPES: Record<number, DockerStreamType> = { 0: 'stdin', 1: 'stdout', 2: 'stderr' };
const HEADER_BYTES = 8;

export interface MultiplexedStreamParser {
  push(chunk: Buffer): void;
  /** Bytes of an unfinished frame still held: non-zero at the end means the stream was cut. */
  readonly pendingBytes: number;
}

export function createMultiplexedStreamParser(onFrame: (stream: DockerStreamType, payload: Buffer) => void): MultiplexedStreamParser {
  let pending: Buffer = Buffer.alloc(0);
  // Payload still owed by the current frame, delivered as it arrives so a large frame is never held whole.
  let remaining = 0;
  let current: DockerStreamType = 'stdout';
  return {
    push(chunk) {
      let data = pending.length > 0 ? Buffer.concat([pending, chunk]) : chunk;
      pending = Buffer.alloc(0);
      while (data.length > 0) {
        if (remaining > 0) {
          const take = Math.min(remaining, data.length);
          onFrame(current, data.subarray(0, take));
          remaining -= take;
          data = data.subarray(take);
          continue;
        }
        if (data.length < HEADER_BYTES) {
          pending = Buffer.from(data);
          return;
        }
        const type = STREAM_TYPES[data[0] ?? -1];
        if (!type) throw new Error(`malformed exec stream: unknown stream type ${data[0]}`);
        current = type;
        remaining = data.readUInt32BE(4);
        data = data.subarray(HEADER_BYTES);
      }
    },
    get pendingBytes() {
      return pending.length + remaining;
    },
  };
}
