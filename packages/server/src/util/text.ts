// Text helpers shared by the runtime's output shortening (large tool outputs, compaction previews).

/** `text.slice(start, end)` without splitting a surrogate pair at either end. */
export function sliceAtCodePoint(text: string, start: number, end: number): string {
  const isLowSurrogate = (index: number): boolean => {
    const code = text.charCodeAt(index);
    return code >= 0xdc00 && code <= 0xdfff;
  };
  let from = Math.max(0, start);
  let to = Math.min(text.length, end);
  if (from > 0 && from < text.length && isLowSurrogate(from)) from += 1;
  if (to < text.length && to > 0 && isLowSurrogate(to)) to -= 1;
  return text.slice(from, Math.max(from, to));
}
