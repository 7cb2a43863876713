// What runner.js takes from deno.land/std/io: lines of a reader, one at a time.
export async function* readLines(reader: { read(p: Uint8Array): Promise<number | null> }): AsyncIterableIterator<string> {
  const decoder = new TextDecoder();
  let buffered = "";
  const chunk = new Uint8Array(64 * 1024);
  for (;;) {
    const n = await reader.read(chunk);
    if (n === null) break;
    buffered += decoder.decode(chunk.subarray(0, n), { stream: true });
    let newline: number;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      let line = buffered.slice(0, newline);
      if (line.endsWith("\r")) line = line.slice(0, -1);
      yield line;
      buffered = buffered.slice(newline + 1);
    }
  }
  buffered += decoder.decode();
  if (buffered.length > 0) yield buffered;
}
