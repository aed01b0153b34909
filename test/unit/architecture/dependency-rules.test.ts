/**
 * The layout's dependency rules, checked on the sources' import statements: core/ is the domain and knows
 * nothing of AWS, HTTP, the functions, the infrastructure or the model server; and no module imports
 * itself back through others (no import cycles), anywhere in the project.
 */
import path from "node:path";
import { describe, expect, it } from "vitest";
import { importsIn, importsOf, PROJECT_FILES, resolveImport, sourceFiles } from "../../support/imports";

/** Packages and built-ins the domain must not use: the cloud, HTTP, the runtimes at its edges. */
const FORBIDDEN_IN_CORE = [
  /^@aws-sdk\//,
  /^@aws-lambda-powertools\//,
  /^aws-lambda$/,
  /^aws-cdk-lib(\/|$)/,
  /^constructs$/,
  /^hono(\/|$)/,
  /^@hono\//,
  /^onnxruntime-node$/,
  /^(node:)?https?$/,
  /^(node:)?http2$/,
];

/** The import cycles of a graph: its strongly connected components of more than one module (Tarjan). */
function cycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, counter);
    low.set(node, counter++);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, index.get(next)!));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1 || (graph.get(node) ?? []).includes(node)) found.push(component.sort());
    }
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return found;
}

describe("core/", () => {
  it("imports no AWS, HTTP, Lambda, CDK or onnxruntime package", () => {
    // Act
    const offending = sourceFiles("core").flatMap((file) =>
      importsOf(file)
        .filter((specifier) => FORBIDDEN_IN_CORE.some((pattern) => pattern.test(specifier)))
        .map((specifier) => `${file} imports ${specifier}`),
    );

    // Assess
    expect(offending).toEqual([]);
  });

  it("imports nothing from outside core/ (functions, infra, the model server, plumbing, ...)", () => {
    // Act
    const offending = sourceFiles("core").flatMap((file) =>
      importsOf(file)
        .filter(
          (specifier) =>
            specifier.startsWith(".") &&
            !path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier)).startsWith("core/"),
        )
        .map((specifier) => `${file} imports ${specifier}`),
    );

    // Assess
    expect(offending).toEqual([]);
  });
});

describe("functions/pipeline/", () => {
  it("knows nothing of the API, the jobs domain, the segment function or the local stack that use it", () => {
    // Act
    const offending = sourceFiles("functions/pipeline").flatMap((file) =>
      importsOf(file)
        .filter((specifier) =>
          /^functions\/(api|jobs|segment|local)\//.test(
            path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier)),
          ),
        )
        .map((specifier) => `${file} imports ${specifier}`),
    );

    // Assess
    expect(offending).toEqual([]);
  });
});

describe("the project's modules", () => {
  it("finds the imports of every form the project writes", () => {
    // Prepare
    const text = [
      'import sharp from "sharp";',
      'import type { Manifest } from "./manifest";',
      'import {\n  inputKey,\n  type OutputKeys,\n} from "../schemas/object-keys";',
      'export { errorFields } from "../plumbing/error-fields";',
      'import "./side-effect";',
      'const { handler } = await import("../functions/segment/handler");',
      '// a comment that mentions from "nowhere" is no import',
    ].join("\n");

    // Act
    const found = importsIn(text);

    // Assess
    expect(found.sort()).toEqual([
      "../functions/segment/handler",
      "../plumbing/error-fields",
      "../schemas/object-keys",
      "./manifest",
      "./side-effect",
      "sharp",
    ]);
  });

  it("import one another without cycles", () => {
    // Prepare
    const graph = new Map(
      [...PROJECT_FILES].map((file) => [
        file,
        importsOf(file).flatMap((specifier) => resolveImport(file, specifier) ?? []),
      ]),
    );

    // Act
    const found = cycles(graph);

    // Assess
    expect(found).toEqual([]);
  });

  it("would report a cycle", () => {
    // Prepare: a -> b -> c -> a, and d alone.
    const graph = new Map([
      ["a", ["b"]],
      ["b", ["c"]],
      ["c", ["a"]],
      ["d", ["a"]],
    ]);

    // Assess
    expect(cycles(graph)).toEqual([["a", "b", "c"]]);
  });
});
