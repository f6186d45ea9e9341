// Zero-dependency protobuf writer for the subset of onnx.proto that a model file needs.
// Messages know their encoded size before their payload exists: tensor bytes are produced lazily at write
// time, so a model of hundreds of MB streams to disk without ever being held whole in memory.
import { closeSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';

/** Receives encoded bytes in order. */
export interface ByteSink {
  write(chunk: Uint8Array): void;
}

type Part =
  | { kind: 'raw'; data: Uint8Array }
  | { kind: 'msg'; msg: ProtoMessage }
  | { kind: 'lazy'; size: number; produce: () => Uint8Array };

const WIRE_VARINT = 0;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

export class ProtoMessage {
  private readonly parts: Part[] = [];
  private pending: number[] = [];
  private cachedSize = -1;

  private flush(): void {
    if (this.pending.length > 0) {
      this.parts.push({ kind: 'raw', data: Uint8Array.from(this.pending) });
      this.pending = [];
    }
  }

  private pushVarint(value: number | bigint): void {
    if (typeof value === 'number' && value >= 0 && value <= Number.MAX_SAFE_INTEGER) {
      let v = value;
      while (v >= 0x80) {
        this.pending.push((v % 0x80) | 0x80);
        v = Math.floor(v / 0x80);
      }
      this.pending.push(v);
      return;
    }
    // Negative int64s are encoded as their 64-bit two's complement: always 10 bytes.
    let v = BigInt.asUintN(64, BigInt(value));
    while (v >= 0x80n) {
      this.pending.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.pending.push(Number(v));
  }

  private tag(field: number, wire: number): void {
    this.pushVarint(field * 8 + wire);
  }

  varint(field: number, value: number | bigint | boolean): this {
    this.tag(field, WIRE_VARINT);
    this.pushVarint(typeof value === 'boolean' ? (value ? 1 : 0) : value);
    return this;
  }

  float(field: number, value: number): this {
    this.tag(field, WIRE_FIXED32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.pending.push(...b);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, WIRE_LEN);
    this.pushVarint(value.length);
    if (value.length < 256) {
      for (const byte of value) this.pending.push(byte);
    } else {
      this.flush();
      this.parts.push({ kind: 'raw', data: value });
    }
    return this;
  }

  /** A length-delimited field whose bytes are only produced when the message is written. */
  lazyBytes(field: number, size: number, produce: () => Uint8Array): this {
    this.tag(field, WIRE_LEN);
    this.pushVarint(size);
    this.flush();
    this.parts.push({ kind: 'lazy', size, produce });
    return this;
  }

  message(field: number, msg: ProtoMessage): this {
    this.tag(field, WIRE_LEN);
    this.pushVarint(msg.size);
    this.flush();
    this.parts.push({ kind: 'msg', msg });
    return this;
  }

  packedVarints(field: number, values: readonly (number | bigint)[]): this {
    const inner = new ProtoMessage();
    for (const v of values) inner.pushVarint(v);
    return this.message(field, inner);
  }

  packedFloats(field: number, values: readonly number[]): this {
    const b = new Uint8Array(values.length * 4);
    const view = new DataView(b.buffer);
    values.forEach((v, i) => view.setFloat32(i * 4, v, true));
    return this.bytes(field, b);
  }

  get size(): number {
    if (this.cachedSize >= 0) return this.cachedSize;
    let n = this.pending.length;
    for (const p of this.parts)
      n += p.kind === 'raw' ? p.data.length : p.kind === 'msg' ? p.msg.size : p.size;
    // Frozen once measured: a parent has already written this size as a length prefix.
    this.flush();
    this.cachedSize = n;
    return n;
  }

  writeTo(sink: ByteSink): void {
    void this.size;
    for (const p of this.parts) {
      if (p.kind === 'raw') sink.write(p.data);
      else if (p.kind === 'msg') p.msg.writeTo(sink);
      else {
        const data = p.produce();
        if (data.length !== p.size) {
          throw new Error(`internal: lazy field produced ${data.length} bytes, declared ${p.size}`);
        }
        sink.write(data);
      }
    }
  }

  toBytes(): Uint8Array {
    const out = new Uint8Array(this.size);
    let off = 0;
    this.writeTo({
      write(chunk) {
        out.set(chunk, off);
        off += chunk.length;
      },
    });
    return out;
  }

  /** Streams the message to `path` through a temporary file renamed into place, so readers never see half a file. */
  writeFile(path: string): void {
    const tmp = `${path}.${process.pid}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      const buf = new Uint8Array(1 << 22);
      let used = 0;
      const drain = (): void => {
        let off = 0;
        while (off < used) off += writeSync(fd, buf, off, used - off);
        used = 0;
      };
      this.writeTo({
        write(chunk) {
          if (chunk.length > buf.length / 2) {
            drain();
            let off = 0;
            while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
            return;
          }
          if (used + chunk.length > buf.length) drain();
          buf.set(chunk, used);
          used += chunk.length;
        },
      });
      drain();
      closeSync(fd);
      renameSync(tmp, path);
    } catch (err) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
      rmSync(tmp, { force: true });
      throw err;
    }
  }
}

// ---- onnx.proto field numbers (onnx/onnx.proto, IR 8) ----

export const TensorDataType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT32: 6,
  INT64: 7,
  BOOL: 9,
  FLOAT16: 10,
} as const;

export const AttributeType = {
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
} as const;

export interface TensorProtoSpec {
  name: string;
  dataType: number;
  dims: readonly number[];
  byteLength: number;
  /** Little-endian raw_data, produced when the tensor is written. */
  raw: () => Uint8Array;
}

export function tensorProto(t: TensorProtoSpec): ProtoMessage {
  const m = new ProtoMessage();
  if (t.dims.length > 0) m.packedVarints(1, t.dims);
  m.varint(2, t.dataType);
  if (t.name) m.string(8, t.name);
  m.lazyBytes(9, t.byteLength, t.raw);
  return m;
}

export type AttributeValue =
  | { type: 'int'; value: number | bigint }
  | { type: 'float'; value: number }
  | { type: 'string'; value: string }
  | { type: 'ints'; value: readonly (number | bigint)[] }
  | { type: 'floats'; value: readonly number[] }
  | { type: 'tensor'; value: ProtoMessage }
  | { type: 'graph'; value: ProtoMessage };

export function attributeProto(name: string, a: AttributeValue): ProtoMessage {
  const m = new ProtoMessage().string(1, name);
  switch (a.type) {
    case 'float':
      m.float(2, a.value).varint(20, AttributeType.FLOAT);
      break;
    case 'int':
      m.varint(3, a.value).varint(20, AttributeType.INT);
      break;
    case 'string':
      m.string(4, a.value).varint(20, AttributeType.STRING);
      break;
    case 'tensor':
      m.message(5, a.value).varint(20, AttributeType.TENSOR);
      break;
    case 'graph':
      m.message(6, a.value).varint(20, AttributeType.GRAPH);
      break;
    case 'floats':
      m.packedFloats(7, a.value).varint(20, AttributeType.FLOATS);
      break;
    case 'ints':
      m.packedVarints(8, a.value).varint(20, AttributeType.INTS);
      break;
  }
  return m;
}

export interface NodeProtoSpec {
  opType: string;
  name: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attributes: readonly ProtoMessage[];
  domain?: string;
}

export function nodeProto(n: NodeProtoSpec): ProtoMessage {
  const m = new ProtoMessage();
  for (const i of n.inputs) m.string(1, i);
  for (const o of n.outputs) m.string(2, o);
  m.string(3, n.name).string(4, n.opType);
  for (const a of n.attributes) m.message(5, a);
  if (n.domain) m.string(7, n.domain);
  return m;
}

/** ValueInfoProto for a tensor; `dims` undefined leaves the shape unknown, strings are symbolic dims. */
export function valueInfoProto(
  name: string,
  elemType: number,
  dims?: readonly (number | string)[],
): ProtoMessage {
  const tensorType = new ProtoMessage().varint(1, elemType);
  if (dims) {
    const shape = new ProtoMessage();
    for (const d of dims) {
      const dim = new ProtoMessage();
      if (typeof d === 'number') dim.varint(1, d);
      else dim.string(2, d);
      shape.message(1, dim);
    }
    tensorType.message(2, shape);
  }
  const typeProto = new ProtoMessage().message(1, tensorType);
  return new ProtoMessage().string(1, name).message(2, typeProto);
}

export interface GraphProtoSpec {
  name: string;
  nodes: readonly ProtoMessage[];
  initializers: readonly ProtoMessage[];
  inputs: readonly ProtoMessage[];
  outputs: readonly ProtoMessage[];
  valueInfos?: readonly ProtoMessage[];
  docString?: string;
}

export function graphProto(g: GraphProtoSpec): ProtoMessage {
  const m = new ProtoMessage();
  for (const n of g.nodes) m.message(1, n);
  m.string(2, g.name);
  for (const t of g.initializers) m.message(5, t);
  if (g.docString) m.string(10, g.docString);
  for (const i of g.inputs) m.message(11, i);
  for (const o of g.outputs) m.message(12, o);
  for (const v of g.valueInfos ?? []) m.message(13, v);
  return m;
}

export interface ModelProtoSpec {
  irVersion: number;
  opsets: readonly { domain: string; version: number }[];
  producerName: string;
  producerVersion: string;
  graph: ProtoMessage;
  docString?: string;
}

export function modelProto(spec: ModelProtoSpec): ProtoMessage {
  const m = new ProtoMessage()
    .varint(1, spec.irVersion)
    .string(2, spec.producerName)
    .string(3, spec.producerVersion);
  if (spec.docString) m.string(6, spec.docString);
  m.message(7, spec.graph);
  for (const o of spec.opsets) {
    const op = new ProtoMessage();
    if (o.domain) op.string(1, o.domain);
    op.varint(2, o.version);
    m.message(8, op);
  }
  return m;
}
