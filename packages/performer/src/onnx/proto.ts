/**
 * Just enough protobuf to serialise an ONNX ModelProto: the field numbers below are those of onnx.proto
 * (onnx/onnx, IR version 8+). Only the messages and fields the graph builder emits are covered; this is a
 * writer, there is no reader.
 */

/** TensorProto.DataType values used here. */
export const DataType = { float: 1, int32: 6, int64: 7, bool: 9, double: 11 } as const;
export type DataTypeName = keyof typeof DataType;

/** AttributeProto.AttributeType values used here. */
const AttributeType = { float: 1, int: 2, string: 3, graph: 5, ints: 7 } as const;

export type AttributeValue =
  | { kind: 'float'; value: number }
  | { kind: 'int'; value: number }
  | { kind: 'ints'; value: readonly number[] }
  | { kind: 'string'; value: string }
  /** A subgraph (If branches); it may read any value of the graphs around it by name. */
  | { kind: 'graph'; value: GraphSpec };

export interface NodeSpec {
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attributes?: Readonly<Record<string, AttributeValue>>;
}

/** Where an initializer's little-endian bytes live outside the model (TensorProto.external_data). */
export interface ExternalData {
  /** The file name onnxruntime looks up (onnxruntime-web: a `path` of the externalData option). */
  location: string;
  offset: number;
  length: number;
}

export type TensorSpec = {
  name: string;
  dataType: DataTypeName;
  dims: readonly number[];
} & (
  | {
      /** Little-endian bytes of the elements (TensorProto.raw_data). */
      raw: Uint8Array;
    }
  | { external: ExternalData }
);

export interface ValueSpec {
  name: string;
  dataType: DataTypeName;
  /** Omitted: the shape is left unknown (If outputs, whose branches may differ in shape). */
  dims?: readonly number[];
}

export interface GraphSpec {
  name: string;
  nodes: readonly NodeSpec[];
  initializers: readonly TensorSpec[];
  inputs: readonly ValueSpec[];
  outputs: readonly ValueSpec[];
}

export interface ModelSpec extends GraphSpec {
  opsetVersion: number;
}

const WIRE_VARINT = 0;
const WIRE_FIXED32 = 5;
const WIRE_BYTES = 2;
const IR_VERSION = 8;

/** Growable byte buffer with protobuf primitives. */
class Writer {
  private bytes = new Uint8Array(256);
  private length = 0;

  private reserve(extra: number): void {
    if (this.length + extra <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < this.length + extra) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }

  /** Unsigned or negative int64 as a varint (negatives take 10 bytes, two's complement). */
  varint(value: number): void {
    let v = BigInt.asUintN(64, BigInt(value));
    this.reserve(10);
    while (v >= 0x80n) {
      this.bytes[this.length++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.bytes[this.length++] = Number(v);
  }

  tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  int(field: number, value: number): void {
    this.tag(field, WIRE_VARINT);
    this.varint(value);
  }

  float(field: number, value: number): void {
    this.tag(field, WIRE_FIXED32);
    this.reserve(4);
    new DataView(this.bytes.buffer).setFloat32(this.length, value, true);
    this.length += 4;
  }

  raw(field: number, data: Uint8Array): void {
    this.tag(field, WIRE_BYTES);
    this.varint(data.length);
    this.reserve(data.length);
    this.bytes.set(data, this.length);
    this.length += data.length;
  }

  string(field: number, value: string): void {
    this.raw(field, new TextEncoder().encode(value));
  }

  message(field: number, build: (w: Writer) => void): void {
    const inner = new Writer();
    build(inner);
    this.raw(field, inner.finish());
  }

  finish(): Uint8Array {
    return this.bytes.slice(0, this.length);
  }
}

function writeValueInfo(w: Writer, value: ValueSpec): void {
  w.string(1, value.name); // ValueInfoProto.name
  w.message(2, (type) =>
    // TypeProto.tensor_type
    type.message(1, (tensor) => {
      tensor.int(1, DataType[value.dataType]); // elem_type
      const dims = value.dims;
      if (dims) {
        tensor.message(2, (shape) => {
          for (const d of dims) shape.message(1, (dim) => dim.int(1, d)); // dim.dim_value
        });
      }
    }),
  );
}

function writeTensor(w: Writer, tensor: TensorSpec): void {
  for (const d of tensor.dims) w.int(1, d); // dims
  w.int(2, DataType[tensor.dataType]); // data_type
  w.string(8, tensor.name); // name
  if ('raw' in tensor) {
    w.raw(9, tensor.raw); // raw_data
    return;
  }
  const { location, offset, length } = tensor.external;
  const entries = { location, offset: String(offset), length: String(length) };
  for (const [key, value] of Object.entries(entries)) {
    // external_data: StringStringEntryProto { key, value }
    w.message(13, (entry) => {
      entry.string(1, key);
      entry.string(2, value);
    });
  }
  w.int(14, 1); // data_location EXTERNAL
}

function writeAttribute(w: Writer, name: string, attribute: AttributeValue): void {
  w.string(1, name);
  w.int(20, AttributeType[attribute.kind]); // type
  switch (attribute.kind) {
    case 'float':
      w.float(2, attribute.value);
      break;
    case 'int':
      w.int(3, attribute.value);
      break;
    case 'ints':
      for (const v of attribute.value) w.int(8, v);
      break;
    case 'string':
      w.string(4, attribute.value); // AttributeProto.s
      break;
    case 'graph':
      w.message(6, (g) => writeGraph(g, attribute.value)); // AttributeProto.g
      break;
  }
}

function writeNode(w: Writer, node: NodeSpec, index: number): void {
  for (const input of node.inputs) w.string(1, input);
  for (const output of node.outputs) w.string(2, output);
  w.string(3, `n${index}_${node.opType}`);
  w.string(4, node.opType);
  for (const [name, attribute] of Object.entries(node.attributes ?? {})) {
    w.message(5, (a) => writeAttribute(a, name, attribute));
  }
}

function writeGraph(w: Writer, spec: GraphSpec): void {
  // Node names only need to be unique within a graph; the graph's name keeps subgraphs' apart in logs.
  spec.nodes.forEach((node, i) => w.message(1, (n) => writeNode(n, node, i)));
  w.string(2, spec.name);
  for (const t of spec.initializers) w.message(5, (m) => writeTensor(m, t));
  for (const v of spec.inputs) w.message(11, (m) => writeValueInfo(m, v));
  for (const v of spec.outputs) w.message(12, (m) => writeValueInfo(m, v));
}

/** Serialises a ModelProto with one graph (and its subgraphs) in the default ONNX domain. */
export function encodeModel(spec: ModelSpec): Uint8Array {
  const w = new Writer();
  w.int(1, IR_VERSION); // ir_version
  w.string(2, 'slimswarm'); // producer_name
  w.message(7, (graph) => writeGraph(graph, spec));
  w.message(8, (opset) => {
    opset.string(1, '');
    opset.int(2, spec.opsetVersion);
  });
  return w.finish();
}
