// A minimal protobuf reader, independent of models/onnx/proto.ts, to inspect written files in tests.

export type Field =
  { field: number; wire: 0; value: bigint } | { field: number; wire: 2 | 5 | 1; bytes: Uint8Array };

export function readVarint(buf: Uint8Array, pos: number): [bigint, number] {
  let result = 0n;
  let shift = 0n;
  for (;;) {
    const b = buf[pos++];
    if (b === undefined) throw new Error('truncated varint');
    result |= BigInt(b & 0x7f) << shift;
    if (b < 0x80) return [result, pos];
    shift += 7n;
  }
}

export function readFields(buf: Uint8Array): Field[] {
  const out: Field[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const [tag, p] = readVarint(buf, pos);
    pos = p;
    const field = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    if (wire === 0) {
      const [v, q] = readVarint(buf, pos);
      pos = q;
      out.push({ field, wire: 0, value: v });
    } else if (wire === 2) {
      const [len, q] = readVarint(buf, pos);
      const end = q + Number(len);
      if (end > buf.length) throw new Error('truncated length-delimited field');
      out.push({ field, wire: 2, bytes: buf.subarray(q, end) });
      pos = end;
    } else if (wire === 5 || wire === 1) {
      const n = wire === 5 ? 4 : 8;
      out.push({ field, wire, bytes: buf.subarray(pos, pos + n) });
      pos += n;
    } else {
      throw new Error(`unsupported wire type ${wire}`);
    }
  }
  return out;
}

export function sub(fields: Field[], field: number): Uint8Array[] {
  return fields
    .filter((f) => f.field === field && f.wire === 2)
    .map((f) => (f as { bytes: Uint8Array }).bytes);
}

export function str(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}

/** Names of a model file's main-graph initializers and of every node input (all subgraphs included). */
export function modelSummary(file: Uint8Array): {
  irVersion: bigint;
  opsets: { domain: string; version: bigint }[];
  initializers: string[];
  nodeInputs: Set<string>;
  opTypes: Set<string>;
} {
  const model = readFields(file);
  const ir = model.find((f) => f.field === 1 && f.wire === 0) as { value: bigint };
  const opsets = sub(model, 8).map((b) => {
    const f = readFields(b);
    const domain = sub(f, 1)[0];
    return {
      domain: domain ? str(domain) : '',
      version: (f.find((x) => x.field === 2) as { value: bigint }).value,
    };
  });
  const graph = readFields(sub(model, 7)[0]);
  const initializers = sub(graph, 5).map((t) => str(sub(readFields(t), 8)[0]));
  const nodeInputs = new Set<string>();
  const opTypes = new Set<string>();
  const walk = (g: ReturnType<typeof readFields>): void => {
    for (const nodeBytes of sub(g, 1)) {
      const node = readFields(nodeBytes);
      for (const i of sub(node, 1)) nodeInputs.add(str(i));
      opTypes.add(str(sub(node, 4)[0]));
      for (const a of sub(node, 5)) {
        for (const sg of sub(readFields(a), 6)) walk(readFields(sg));
      }
    }
  };
  walk(graph);
  return { irVersion: ir.value, opsets, initializers, nodeInputs, opTypes };
}
