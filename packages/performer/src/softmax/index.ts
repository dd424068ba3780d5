export { buildSoftmaxGraph } from './graph.js';
export type { TeacherGraphKind } from './graph.js';
export { SoftmaxTeacher, trainSoftmaxTeacher } from './teacher.js';
export type { TeacherShape, TeacherTraining } from './teacher.js';
export { conversionError, softmaxLogProbs } from './convert.js';
export type { ConversionError } from './convert.js';
