export { type CrdSet, type CrdVersion, crdSetFromTexts, DEFAULT_CRD_DIR, loadCrdSet } from './crd-schemas.js';
export { type Conversion, convertV1alpha2 } from './convert-v1alpha2.js';
export { listManifestFiles, MANIFEST_EXT, MAX_MANIFEST_FILES, ManifestFilesError } from './manifest-files.js';
export { compareFindings, type FieldPath, type Finding, formatFinding, formatPath, type Severity } from './finding.js';
export { compileStructural, type K8sSchema, pruneNulls, type SchemaProblem, toJsonSchema } from './structural.js';
export {
  MAX_ANNOTATIONS_BYTES,
  MAX_OBJECT_BYTES,
  type ManifestSource,
  type ValidatedObject,
  type ValidateOptions,
  type ValidationResult,
  validateManifests,
  validateObjects,
} from './validate.js';
export { type ParsedYaml, parseYaml, type Position, type SourceDoc, type SyntaxProblem } from './yaml-source.js';
