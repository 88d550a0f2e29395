// Every export of the package entry, and of its `kernels` namespace, carries a doc comment, so
// that a TypeScript user hovering over an import from 'altreg' sees what it is; and every
// `@example` in those comments compiles against the entry as written. Read from the sources
// (src/index.ts) through the compiler API, not from the built declarations, which may be stale.
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const entry = join(root, 'src/index.ts');
// Not on disk: the compiler host below serves it.
const examplesFile = join(root, 'src/api-docs-examples.virtual.ts');

const config = ts.readConfigFile(join(root, 'tsconfig.json'), ts.sys.readFile);
const { options } = ts.parseJsonConfigFileContent(config.config, ts.sys, root);

/** A program of src/index.ts (and, when given, a file of examples beside it), checked without emitting. */
function program(examples?: string): ts.Program {
  const host = ts.createCompilerHost({ ...options, skipLibCheck: true, noEmit: true });
  if (examples !== undefined) {
    const { getSourceFile, fileExists, readFile } = host;
    host.getSourceFile = (file, language, ...rest) => (file === examplesFile ? ts.createSourceFile(file, examples, language) : getSourceFile(file, language, ...rest));
    host.fileExists = (file) => file === examplesFile || fileExists(file);
    host.readFile = (file) => (file === examplesFile ? examples : readFile(file));
  }
  // The examples import every export, types too, by one plain import.
  return ts.createProgram(examples === undefined ? [entry] : [entry, examplesFile], { ...options, skipLibCheck: true, noEmit: true, verbatimModuleSyntax: false }, host);
}

interface Export {
  /** `train`, or `kernels.createAdam` for a member of the namespace. */
  name: string;
  /** Its doc comment's text, without tags; '' when it has none. */
  doc: string;
  /** The text of its `@example` tags. */
  examples: string[];
}

/** Every export of src/index.ts and of `kernels`, with the documentation an IDE shows for it. */
function exportsOf(p: ts.Program): Export[] {
  const checker = p.getTypeChecker();
  const out: Export[] = [];
  const add = (symbol: ts.Symbol, name: string) => {
    const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
    let doc = ts.displayPartsToString(target.getDocumentationComment(checker)).trim();
    // `export * as kernels from …` names a module, and a module has no doc comment of its own
    // (TypeScript shows none on hover): the comment on that export statement is the one it has.
    const namespaceExport = symbol.declarations?.find(ts.isNamespaceExport);
    if (!doc && namespaceExport) {
      doc = ts
        .getJSDocCommentsAndTags(namespaceExport.parent)
        .map((d) => (ts.isJSDoc(d) ? (ts.getTextOfJSDocComment(d.comment) ?? '') : ''))
        .join('')
        .trim();
    }
    const examples = target.getJsDocTags(checker).filter((t) => t.name === 'example').map((t) => ts.displayPartsToString(t.text));
    out.push({ name, doc, examples });
  };
  const moduleSymbol = checker.getSymbolAtLocation(p.getSourceFile(entry)!)!;
  for (const symbol of checker.getExportsOfModule(moduleSymbol)) {
    add(symbol, symbol.name);
    if (symbol.name === 'kernels') {
      for (const member of checker.getExportsOfModule(checker.getAliasedSymbol(symbol))) add(member, `kernels.${member.name}`);
    }
  }
  return out;
}

describe('API docs', () => {
  const exported = exportsOf(program());

  it('every export of altreg and of altreg.kernels has a doc comment', () => {
    // A broken program (the entry not found, no exports read) must not pass as "nothing missing".
    expect(exported.length).toBeGreaterThan(150);
    const undocumented = exported.filter((e) => !e.doc).map((e) => e.name);
    expect(undocumented, `undocumented exports: ${undocumented.join(', ')}`).toEqual([]);
  });

  it('every @example compiles against the entry, each in its own async function', () => {
    const examples = exported.flatMap((e) => e.examples.map((text) => ({ name: e.name, text })));
    expect(examples.length).toBeGreaterThan(0);
    const names = exported.filter((e) => !e.name.includes('.')).map((e) => e.name);
    const source =
      `import { ${names.join(', ')} } from './index.js';\n` +
      examples.map((e, i) => `// ${e.name}\nexport async function example${i}() {\n${e.text}\n}\n`).join('');
    const p = program(source);
    const diagnostics = ts.getPreEmitDiagnostics(p, p.getSourceFile(examplesFile)).map((d) => {
      const line = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : -1;
      // The example a line belongs to: the nearest `// name` comment above it.
      const owner = source.split('\n').slice(0, line + 1).reverse().find((l) => l.startsWith('// '));
      return `${owner?.slice(3)}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    });
    expect(diagnostics).toEqual([]);
  });
});
