// Keeps the first `limit` bytes of a stream and counts the rest. The stream must still be read to
// its end (a full pipe would block the command), but nothing beyond the limit stays in memory.

export interface BoundedOutput {
  push(chunk: Buffer): void;
  /** The kept bytes as UTF-8, without a character cut in half at the limit. */
  text(): string;
  readonly truncated: boolean;
}

export function createBoundedOutput(limit: number): BoundedOutput {
  const chunks: Buffer[] = [];
  let keptBytes = 0;
  let truncated = false;
  return {
    push(chunk) {
      const room = limit - keptBytes;
      if (chunk.length <= room) {
        chunks.push(chunk);
        keptBytes += chunk.length;
        return;
      }
      truncated = true;
      if (room > 0) {
        chunks.push(chunk.subarray(0, room));
        keptBytes = limit;
      }
    },
    text() {
      const bytes = Buffer.concat(chunks, keptBytes);
      return (truncated ? bytes.subarray(0, completeUtf8Length(bytes)) : bytes).toString('utf8');
    },
    get truncated() {
      return truncated;
    },
  };
}

/** Length of `bytes` without a trailing, incomplete UTF-8 sequence. */
function completeUtf8Length(bytes: Buffer): number {
  // A sequence is at most 4 bytes, so only the last 3 can start an unfinished one.
  for (let back = 1; back <= Math.min(3, bytes.length); back++) {
    const byte = bytes[bytes.length - back] ?? 0;
    if ((byte & 0b1100_0000) === 0b1000_0000) continue; // continuation byte: keep looking back
    const expected = byte >= 0b1111_0000 ? 4 : byte >= 0b1110_0000 ? 3 : byte >= 0b1100_0000 ? 2 : 1;
    return expected > back ? bytes.length - back : bytes.length;
  }
  return bytes.length;
}
