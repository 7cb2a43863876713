import { isPySpace, pyStrip } from "./pyText.js";

/** Python's `str.splitlines()` boundaries; `\r\n` is one. */
const LINE_BREAK = /\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]/;
const HEADER = /^\[\[ ## ([\p{L}\p{N}_]+) ## \]\]/u;
const OPEN = "[[ ## ";
const CLOSE = " ## ]]";

/**
 * Splits a ChatAdapter answer, as it streams in, into its output fields' text, so that the pieces of a
 * field concatenate to exactly what `parseChat` (DSPy's `ChatAdapter.parse`) makes that field's
 * section: its lines joined by "\n", stripped. So a line that may still become a `[[ ## field ## ]]`
 * header is held until it is known, whitespace at a field's start is dropped, and whitespace is held
 * back until more text follows it (at the end it is what the strip removes). Only a field's first
 * section counts, as in the parse.
 */
export class ChatFieldStream {
  private buffer = "";
  /** Part of the current line already sent (so it is content, not a header). */
  private lineSent = false;
  private field: string | null = null;
  private readonly seen = new Set<string>();
  private started = false;
  private held = "";

  constructor(
    private readonly outputs: ReadonlySet<string>,
    private readonly onDelta: (field: string, text: string) => void,
  ) {}

  push(text: string): void {
    this.buffer += text;
    this.drain(false);
  }

  /** The answer is complete: its last line is read as a whole line. */
  finish(): void {
    this.drain(true);
  }

  private drain(final: boolean): void {
    for (;;) {
      const match = LINE_BREAK.exec(this.buffer);
      // A "\r" at the end may be the first half of "\r\n": wait for what follows.
      const open = match && match[0] === "\r" && match.index === this.buffer.length - 1 && !final;
      if (!match || open) break;
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      this.line(line);
      this.content("\n");
      this.lineSent = false;
    }
    if (final) {
      if (this.buffer) this.line(this.buffer);
      this.buffer = "";
      return;
    }
    // The rest is an incomplete line: sent now unless it may yet be a header (a "\r" that may start a "\r\n" waits).
    const rest = this.buffer.endsWith("\r") ? this.buffer.slice(0, -1) : this.buffer;
    if (rest && (this.lineSent || !couldBeHeader(rest))) {
      this.content(rest);
      this.buffer = this.buffer.slice(rest.length);
      this.lineSent = true;
    }
  }

  /** A complete line (or its unsent rest). */
  private line(text: string): void {
    if (this.lineSent) return this.content(text);
    const header = HEADER.exec(pyStrip(text));
    if (!header) return this.content(text);
    const name = header[1]!;
    this.field = this.outputs.has(name) && !this.seen.has(name) ? name : null;
    this.seen.add(name);
    this.started = false;
    this.held = "";
    // As the parse: the unstripped line sliced at the end of the header found in the stripped one.
    this.content(pyStrip(text.slice(header[0].length)));
  }

  private content(text: string): void {
    if (this.field === null || text === "") return;
    let start = 0;
    if (!this.started) {
      while (start < text.length && isPySpace(text[start])) start++;
      if (start === text.length) return;
      this.started = true;
    }
    const whole = this.held + text.slice(start);
    let end = whole.length;
    while (end > 0 && isPySpace(whole[end - 1])) end--;
    this.held = whole.slice(end);
    if (end > 0) this.onDelta(this.field, whole.slice(0, end));
  }
}

/** Whether an incomplete line, stripped of leading whitespace, may still turn out to be a field header. */
function couldBeHeader(line: string): boolean {
  let s = line;
  let i = 0;
  while (i < s.length && isPySpace(s[i])) i++;
  s = s.slice(i);
  if (s.length <= OPEN.length) return OPEN.startsWith(s);
  if (!s.startsWith(OPEN)) return false;
  const name = /^[\p{L}\p{N}_]*/u.exec(s.slice(OPEN.length))![0];
  const rest = s.slice(OPEN.length + name.length);
  if (rest === "") return true;
  if (name === "") return false;
  // A whole header is held too: the rest of its line is read with it.
  return rest.length < CLOSE.length ? CLOSE.startsWith(rest) : rest.startsWith(CLOSE);
}
