export { GraphBuilder, ShapeError, OPSET, sizeOf, broadcastShapes } from './graph.js';
export type { Value, NodeInfo, RecordedNode } from './graph.js';
export { gradients, NoGradientPathError } from './autodiff.js';
export { encodeModel, DataType } from './proto.js';
export type { DataTypeName, ModelSpec, NodeSpec, TensorSpec, ValueSpec, AttributeValue } from './proto.js';
