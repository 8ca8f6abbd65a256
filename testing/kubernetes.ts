/**
 * Kubernetes manifest validation for tests: `kubernetes-models` (the API schemas as classes with
 * `validate()`) and `yaml`, both test-only and pinned here (tests/deps_test.ts).
 *
 * @module
 */

// deno-lint-ignore no-import-prefix
import { parseAllDocuments } from "npm:yaml@2.9.1";
// deno-lint-ignore no-import-prefix
import { ConfigMap, Secret, Service } from "npm:kubernetes-models@5.1.0/v1";
// deno-lint-ignore no-import-prefix
import { Deployment, StatefulSet } from "npm:kubernetes-models@5.1.0/apps/v1";
// deno-lint-ignore no-import-prefix
import { PodDisruptionBudget } from "npm:kubernetes-models@5.1.0/policy/v1";

/** One manifest document. */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  [key: string]: unknown;
}

/** Every document of a multi-document YAML text. Throws on a YAML error. */
export function parseManifests(text: string): Manifest[] {
  return parseAllDocuments(text).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`YAML: ${doc.errors[0].message}`);
    return doc.toJS() as Manifest;
  }).filter((m) => m !== null);
}

// deno-lint-ignore no-explicit-any
type Model = new (data: any) => { validate(): void };

const MODELS: Record<string, Model> = {
  "v1/ConfigMap": ConfigMap,
  "v1/Secret": Secret,
  "v1/Service": Service,
  "apps/v1/Deployment": Deployment,
  "apps/v1/StatefulSet": StatefulSet,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
};

/** Validate `manifest` against its Kubernetes schema; throws with the schema's complaint. */
export function validateManifest(manifest: Manifest): void {
  const model = MODELS[`${manifest.apiVersion}/${manifest.kind}`];
  if (!model) throw new Error(`no schema for ${manifest.apiVersion} ${manifest.kind}`);
  new model(manifest).validate();
}
