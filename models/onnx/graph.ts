// A small ONNX graph-builder DSL: initializers with lazily produced data, nodes with auto-named outputs,
// typed graph inputs/outputs, and If-branch subgraphs that read outer-scope names.
import { endianness } from 'node:os';
import {
  type AttributeValue,
  type ProtoMessage,
  TensorDataType,
  attributeProto,
  graphProto,
  modelProto,
  nodeProto,
  tensorProto,
  valueInfoProto,
} from './proto.js';

export type ElemType = 'float32' | 'float16' | 'int64' | 'int32' | 'int8' | 'uint8' | 'bool';
export type Dim = number | string;

export const ELEM_TYPE_CODE: Record<ElemType, number> = {
  float32: TensorDataType.FLOAT,
  float16: TensorDataType.FLOAT16,
  int64: TensorDataType.INT64,
  int32: TensorDataType.INT32,
  int8: TensorDataType.INT8,
  uint8: TensorDataType.UINT8,
  bool: TensorDataType.BOOL,
};

export const ELEM_SIZE: Record<ElemType, number> = {
  float32: 4,
  float16: 2,
  int64: 8,
  int32: 4,
  int8: 1,
  uint8: 1,
  bool: 1,
};

export type TensorData = Float32Array | Uint16Array | BigInt64Array | Int32Array | Int8Array | Uint8Array;

export interface Initializer {
  name: string;
  type: ElemType;
  dims: number[];
  /** Called once, at write time; float16 data is given as raw Uint16 bit patterns. */
  data: () => TensorData;
}

/** Attribute helpers: ONNX distinguishes int and float attributes, JS numbers do not. */
export const attr = {
  int: (value: number | bigint): AttributeValue => ({ type: 'int', value }),
  float: (value: number): AttributeValue => ({ type: 'float', value }),
  string: (value: string): AttributeValue => ({ type: 'string', value }),
  ints: (value: readonly (number | bigint)[]): AttributeValue => ({ type: 'ints', value }),
  floats: (value: readonly number[]): AttributeValue => ({ type: 'floats', value }),
};

export type GraphAttr =
  AttributeValue | { type: 'subgraph'; value: Graph } | { type: 'constTensor'; value: Initializer };

export interface NodeDef {
  op: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, GraphAttr>;
  domain?: string;
}

export interface ValueInfo {
  name: string;
  type: ElemType;
  dims?: Dim[];
}

export function numel(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

export function tensorBytes(t: TensorData): Uint8Array {
  return new Uint8Array(t.buffer, t.byteOffset, t.byteLength);
}

/** Shared naming state of a root graph and all its subgraphs (ONNX names must not collide across scopes). */
class Scope {
  readonly used = new Set<string>();
  readonly initializers = new Map<string, Initializer>();
  readonly constCache = new Map<string, string>();
  private counter = 0;

  unique(base: string): string {
    let name = base;
    while (this.used.has(name)) name = `${base}_${++this.counter}`;
    this.used.add(name);
    return name;
  }
}

export class Graph {
  readonly nodes: NodeDef[] = [];
  readonly inputs: ValueInfo[] = [];
  readonly outputs: ValueInfo[] = [];
  readonly valueInfos: ValueInfo[] = [];
  /** Prefix for generated names, e.g. "/model/decoder/layers.0/self_attn/". */
  prefix = '';
  private readonly scope: Scope;

  constructor(
    readonly name: string,
    parent?: Graph,
  ) {
    this.scope = parent ? parent.scope : new Scope();
  }

  /** Initializers live in the root graph; subgraphs read them from the outer scope (as optimum's merge does). */
  get initializers(): Map<string, Initializer> {
    return this.scope.initializers;
  }

  subgraph(name: string): Graph {
    return new Graph(name, this);
  }

  input(name: string, type: ElemType, dims: Dim[]): string {
    this.scope.used.add(name);
    this.inputs.push({ name, type, dims });
    return name;
  }

  /** Declares `name` (already produced by a node) as a graph output. */
  output(name: string, type: ElemType, dims?: Dim[]): void {
    this.outputs.push({ name, type, dims });
  }

  init(name: string, type: ElemType, dims: number[], data: () => TensorData): string {
    if (this.scope.initializers.has(name)) throw new Error(`internal: duplicate initializer ${name}`);
    this.scope.used.add(name);
    this.scope.initializers.set(name, { name, type, dims, data });
    return name;
  }

  /** Registers an initializer shared by several subgraphs: the first call creates it, later calls reuse it. */
  initOnce(name: string, type: ElemType, dims: number[], data: () => TensorData): string {
    const have = this.scope.initializers.get(name);
    if (!have) return this.init(name, type, dims, data);
    if (have.type !== type || have.dims.join(',') !== dims.join(',')) {
      throw new Error(`internal: initializer ${name} redeclared with another type or shape`);
    }
    return name;
  }

  /** A deduplicated small int64 constant. */
  i64(values: readonly number[], dims: number[] = [values.length]): string {
    const key = `i64:${dims.join(',')}:${values.join(',')}`;
    let name = this.scope.constCache.get(key);
    if (!name) {
      const data = BigInt64Array.from(values.map((v) => BigInt(v)));
      name = this.init(
        this.scope.unique(`const_i64_${values.join('_').replace(/-/g, 'm')}`),
        'int64',
        dims,
        () => data,
      );
      this.scope.constCache.set(key, name);
    }
    return name;
  }

  /** A deduplicated float32 constant (scalar unless dims given). */
  f32(values: number | readonly number[], dims?: number[]): string {
    const arr = typeof values === 'number' ? [values] : values;
    const shape = dims ?? (typeof values === 'number' ? [] : [arr.length]);
    const key = `f32:${shape.join(',')}:${arr.join(',')}`;
    let name = this.scope.constCache.get(key);
    if (!name) {
      const data = Float32Array.from(arr);
      name = this.init(
        this.scope.unique(`const_f32_${this.scope.constCache.size}`),
        'float32',
        shape,
        () => data,
      );
      this.scope.constCache.set(key, name);
    }
    return name;
  }

  /** Adds a node; returns its output names (auto-named from the prefix and op unless given). */
  nodeN(
    op: string,
    inputs: string[],
    outputs: number | string[],
    attrs: Record<string, GraphAttr> = {},
    domain?: string,
  ): string[] {
    const name = this.scope.unique(`${this.prefix}${op}`);
    const outs =
      typeof outputs === 'number'
        ? Array.from({ length: outputs }, (_, i) => this.scope.unique(`${name}_output_${i}`))
        : outputs.map((o) => {
            this.scope.used.add(o);
            return o;
          });
    this.nodes.push({ op, name, inputs, outputs: outs, attrs, domain });
    return outs;
  }

  node(op: string, inputs: string[], attrs: Record<string, GraphAttr> = {}, output?: string): string {
    return this.nodeN(op, inputs, output === undefined ? 1 : [output], attrs)[0];
  }

  /** All graphs reachable from this one (itself first), following subgraph attributes. */
  allGraphs(): Graph[] {
    const out: Graph[] = [this];
    for (const n of this.nodes) {
      for (const a of Object.values(n.attrs)) if (a.type === 'subgraph') out.push(...a.value.allGraphs());
    }
    return out;
  }

  /** Unique name in this graph's namespace (for passes that insert nodes). */
  freshName(base: string): string {
    return this.scope.unique(base);
  }
}

function initializerProto(t: Initializer): ProtoMessage {
  return tensorProto({
    name: t.name,
    dataType: ELEM_TYPE_CODE[t.type],
    dims: t.dims,
    byteLength: numel(t.dims) * ELEM_SIZE[t.type],
    raw: () => tensorBytes(t.data()),
  });
}

function encodeGraph(g: Graph, initializers: Initializer[]): ProtoMessage {
  const nodes = g.nodes.map((n) =>
    nodeProto({
      opType: n.op,
      name: n.name,
      inputs: n.inputs,
      outputs: n.outputs,
      domain: n.domain,
      attributes: Object.entries(n.attrs).map(([k, a]) => {
        if (a.type === 'subgraph')
          return attributeProto(k, { type: 'graph', value: encodeGraph(a.value, []) });
        if (a.type === 'constTensor')
          return attributeProto(k, { type: 'tensor', value: initializerProto(a.value) });
        return attributeProto(k, a);
      }),
    }),
  );
  const vi = (v: ValueInfo): ProtoMessage => valueInfoProto(v.name, ELEM_TYPE_CODE[v.type], v.dims);
  return graphProto({
    name: g.name,
    nodes,
    initializers: initializers.map(initializerProto),
    inputs: g.inputs.map(vi),
    outputs: g.outputs.map(vi),
    valueInfos: g.valueInfos.map(vi),
  });
}

/** Initializers that some node (in any subgraph) reads, in creation order; the rest would only draw ORT warnings. */
export function usedInitializers(root: Graph): Initializer[] {
  const read = new Set<string>();
  for (const g of root.allGraphs()) for (const n of g.nodes) for (const i of n.inputs) read.add(i);
  for (const o of root.outputs) read.add(o.name);
  return [...root.initializers.values()].filter((t) => read.has(t.name));
}

export interface ModelOptions {
  opset?: number;
  irVersion?: number;
  producerName?: string;
  producerVersion?: string;
  extraOpsets?: { domain: string; version: number }[];
  docString?: string;
}

export function encodeModel(root: Graph, opts: ModelOptions = {}): ProtoMessage {
  if (endianness() !== 'LE') throw new Error('ONNX raw_data is little-endian; this host is big-endian');
  return modelProto({
    irVersion: opts.irVersion ?? 8,
    opsets: [{ domain: '', version: opts.opset ?? 17 }, ...(opts.extraOpsets ?? [])],
    producerName: opts.producerName ?? 'earshot',
    producerVersion: opts.producerVersion ?? '0.1.0',
    docString: opts.docString,
    graph: encodeGraph(root, usedInitializers(root)),
  });
}

/** Streams the model to `path` (atomically: temp file + rename). */
export function writeModel(path: string, root: Graph, opts: ModelOptions = {}): void {
  encodeModel(root, opts).writeFile(path);
}
