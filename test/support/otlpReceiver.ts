import http from "node:http";
import type { AddressInfo } from "node:net";
import { gunzipSync } from "node:zlib";

/** One span as a test reads it, whichever side sent it. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** "" for a root span. */
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: Record<string, string | number | boolean>;
  /** The exporting process's resource (service.name tells Node from Python). */
  resource: Record<string, string | number | boolean>;
  /** 0 unset, 1 ok, 2 error. */
  statusCode: number;
}

export interface OtlpReceiver {
  /** The OTLP/HTTP base URL (exporters post to `<url>/v1/traces`). */
  url: string;
  spans: ReceivedSpan[];
  /** Resolves once `predicate` holds for the spans received so far (or rejects after `timeoutMs`). */
  waitFor(predicate: (spans: ReceivedSpan[]) => boolean, timeoutMs?: number): Promise<ReceivedSpan[]>;
  close(): Promise<void>;
}

/**
 * An OTLP/HTTP trace receiver on 127.0.0.1: `application/json` (the Node exporter's encoding) and
 * `application/x-protobuf` (the Python exporter's, decoded here with a minimal protobuf reader).
 */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      try {
        let body = Buffer.concat(chunks);
        if (req.headers["content-encoding"] === "gzip") body = gunzipSync(body);
        const json = (req.headers["content-type"] ?? "").includes("json");
        if (req.url !== "/v1/traces") throw new Error(`unexpected path ${req.url}`);
        spans.push(...(json ? fromJson(JSON.parse(body.toString("utf8"))) : fromProtobuf(body)));
        res.writeHead(200, { "content-type": json ? "application/json" : "application/x-protobuf" });
        res.end(json ? "{}" : undefined);
      } catch (error) {
        res.writeHead(400).end(String(error));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    async waitFor(predicate, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(spans)) {
        if (Date.now() > deadline) throw new Error(`spans never matched; received: ${JSON.stringify(spans.map((s) => `${s.resource["service.name"]}: ${s.name}`))}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      return spans;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

// --- OTLP JSON ------------------------------------------------------------------------------------

type JsonValue = { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean };
type JsonAttributes = { key: string; value: JsonValue }[] | undefined;

function jsonAttributes(list: JsonAttributes): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const { key, value } of list ?? []) {
    out[key] = value.stringValue ?? (value.intValue !== undefined ? Number(value.intValue) : (value.doubleValue ?? value.boolValue ?? ""));
  }
  return out;
}

function fromJson(body: any): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of body.resourceSpans ?? []) {
    const resource = jsonAttributes(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        out.push({ traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId ?? "", name: s.name, kind: s.kind ?? 0, attributes: jsonAttributes(s.attributes), resource, statusCode: s.status?.code ?? 0 });
      }
    }
  }
  return out;
}

// --- OTLP protobuf (opentelemetry-proto trace.proto; only the fields read here) --------------------

type Field = { no: number; varint?: bigint; bytes?: Buffer; fixed?: Buffer };

function readVarint(buf: Buffer, at: number): [bigint, number] {
  let value = 0n;
  let shift = 0n;
  for (;;) {
    const byte = buf[at++]!;
    value |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return [value, at];
    shift += 7n;
  }
}

function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let at = 0;
  while (at < buf.length) {
    const [tag, next] = readVarint(buf, at);
    at = next;
    const no = Number(tag >> 3n);
    switch (Number(tag & 7n)) {
      case 0: {
        const [value, after] = readVarint(buf, at);
        out.push({ no, varint: value });
        at = after;
        break;
      }
      case 1:
        out.push({ no, fixed: buf.subarray(at, at + 8) });
        at += 8;
        break;
      case 2: {
        const [length, after] = readVarint(buf, at);
        out.push({ no, bytes: buf.subarray(after, after + Number(length)) });
        at = after + Number(length);
        break;
      }
      case 5:
        out.push({ no, fixed: buf.subarray(at, at + 4) });
        at += 4;
        break;
      default:
        throw new Error(`unsupported protobuf wire type in tag ${tag}`);
    }
  }
  return out;
}

const all = (list: Field[], no: number) => list.filter((f) => f.no === no);
const one = (list: Field[], no: number) => list.find((f) => f.no === no);

function protoAttributes(list: Field[]): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const kv of all(list, 9)) {
    const parts = fields(kv.bytes!);
    const key = one(parts, 1)?.bytes?.toString("utf8") ?? "";
    const any = fields(one(parts, 2)?.bytes ?? Buffer.alloc(0));
    const [value] = any;
    if (!value) continue;
    if (value.no === 1) out[key] = value.bytes!.toString("utf8");
    else if (value.no === 2) out[key] = value.varint === 1n;
    else if (value.no === 3) out[key] = Number(BigInt.asIntN(64, value.varint!));
    else if (value.no === 4) out[key] = value.fixed!.readDoubleLE(0);
  }
  return out;
}

function fromProtobuf(body: Buffer): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of all(fields(body), 1)) {
    const rsFields = fields(rs.bytes!);
    // Resource.attributes is field 1 (a Span's are field 9): renumber to share the reader.
    const resourceFields = fields(one(rsFields, 1)?.bytes ?? Buffer.alloc(0)).filter((f) => f.no === 1).map((f) => ({ ...f, no: 9 }));
    const resource = protoAttributes(resourceFields);
    for (const ss of all(rsFields, 2)) {
      for (const s of all(fields(ss.bytes!), 2)) {
        const span = fields(s.bytes!);
        const status = fields(one(span, 15)?.bytes ?? Buffer.alloc(0));
        out.push({
          traceId: one(span, 1)?.bytes?.toString("hex") ?? "",
          spanId: one(span, 2)?.bytes?.toString("hex") ?? "",
          parentSpanId: one(span, 4)?.bytes?.toString("hex") ?? "",
          name: one(span, 5)?.bytes?.toString("utf8") ?? "",
          kind: Number(one(span, 6)?.varint ?? 0n),
          attributes: protoAttributes(span),
          resource,
          statusCode: Number(one(status, 3)?.varint ?? 0n),
        });
      }
    }
  }
  return out;
}
