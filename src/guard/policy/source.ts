// YAML text → plain data, remembering where every value and every mapping key came from, so
// that a problem found later (by the schema or by validate.ts) can name its line and column.

import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node, type Scalar } from 'yaml';
import type { PolicyProblem } from './errors.js';

export type Path = readonly (string | number)[];

// A path as a map key. Mapping keys and list indices never meet at the same depth of one value,
// so joining is unambiguous (and much cheaper than JSON for large policies).
const pathKey = (path: Path): string => path.join('\u0001');

interface Place {
  /** The value's node (for an alias: the alias, where it is used). */
  node?: Node;
  /** The mapping key's node, for values in a mapping. */
  key?: Node;
}

/** Parsed YAML with the source position of each value. */
export class YamlSource {
  private readonly places = new Map<string, Place>();

  constructor(
    readonly file: string,
    private readonly text: string,
    private readonly lines: LineCounter,
    /** Mappings are objects with a null prototype; integers are bigint. */
    public value: unknown = null,
  ) {}

  /** Record where the value (or mapping key) at `path` is; merges with what is already known. */
  remember(path: Path, place: Place): void {
    const k = pathKey(path);
    const known = this.places.get(k);
    if (known) Object.assign(known, place);
    else this.places.set(k, place);
  }

  private place(path: Path): Place | undefined {
    return this.places.get(pathKey(path));
  }

  private position(offset: number): { line: number; column: number } {
    const { line, col } = this.lines.linePos(offset);
    return { line, column: col };
  }

  /** Where a node starts. */
  nodeProblem(node: Node, message: string): PolicyProblem {
    return { file: this.file, ...(node.range ? this.position(node.range[0]) : { line: 1, column: 1 }), message, severity: 'error' };
  }

  /**
   * Where the value at `path` starts (`part: 'key'`: where its mapping key starts). For a path
   * with no value (a missing field), the nearest enclosing value that exists.
   */
  at(path: Path, part: 'value' | 'key' = 'value'): { line: number; column: number } {
    for (let n = path.length; n >= 0; n--) {
      const place = this.place(path.slice(0, n));
      const node = n < path.length ? place?.node : part === 'key' ? place?.key ?? place?.node : place?.node ?? place?.key;
      if (node?.range) return this.position(node.range[0]);
    }
    return { line: 1, column: 1 };
  }

  /**
   * Where character `index` of the string at `path` is, when the scalar is written so that its
   * characters map one to one (plain, or quoted without escapes); else where the scalar starts.
   */
  atChar(path: Path, index: number): { line: number; column: number } {
    const node = this.place(path)?.node;
    if (!node || !isScalar(node) || !node.range || typeof node.value !== 'string') return this.at(path);
    const [start, end] = node.range;
    const raw = this.text.slice(start, end);
    const value = node.value;
    if (node.type === 'PLAIN' && raw === value) return this.position(start + index);
    if ((node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE') && raw.slice(1, -1) === value) {
      return this.position(start + 1 + index);
    }
    return this.at(path);
  }

  /**
   * A scalar as written: strings as they are, other scalars by their source text, so `0x10`
   * stays "0x10" and `1.50` stays "1.50".
   */
  asWritten(path: Path): string | undefined {
    const node = this.place(path)?.node;
    const scalar = node && isAlias(node) ? undefined : node;
    if (!scalar || !isScalar(scalar)) return undefined;
    const v = (scalar as Scalar).value;
    if (typeof v === 'string') return v;
    return (scalar as Scalar).source ?? String(v);
  }

  problem(path: Path, message: string, part: 'value' | 'key' = 'value', severity: 'error' | 'warning' = 'error'): PolicyProblem {
    return { file: this.file, ...this.at(path, part), message, severity };
  }
}

const YAML_HINTS: Record<string, string> = {
  TAB_AS_INDENT: 'indent with spaces',
  MULTIPLE_DOCS: 'a policy file holds one YAML document; remove the second ---',
  DUPLICATE_KEY: 'each field may appear once in a mapping; keep one',
  MISSING_CHAR: 'close the quote or bracket',
  BAD_INDENT: 'check the indentation and the closing bracket',
};

/**
 * Parse YAML text. Syntax errors come back as problems (at most one per line: the first, since
 * the rest are usually its echoes) and `source.value` is then null.
 */
export function readYaml(text: string, file: string): { source: YamlSource; problems: PolicyProblem[] } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, intAsBigInt: true, prettyErrors: false, uniqueKeys: true });
  const source = new YamlSource(file, text, lines);
  const problems: PolicyProblem[] = [];
  const seenLines = new Set<number>();
  for (const e of doc.errors) {
    const { line, col } = lines.linePos(e.pos[0]);
    if (seenLines.has(line)) continue;
    seenLines.add(line);
    const what = e.message.replace(/; please use YAML\.parseAllDocuments\(\)$/, '').replace(/\.$/, '');
    const hint = YAML_HINTS[e.code];
    problems.push({ file, line, column: col, message: `YAML: ${what}${hint ? `; ${hint}` : ''}`, severity: 'error' });
  }
  if (problems.length > 0) return { source, problems };
  source.value = convert(doc, doc.contents, [], source, problems, 0);
  return { source, problems };
}

const MAX_DEPTH = 64;

function convert(doc: Document, node: unknown, path: Path, source: YamlSource, problems: PolicyProblem[], depth: number): unknown {
  if (node === null || node === undefined) return null;
  if (depth > MAX_DEPTH) {
    problems.push(source.problem(path, `nested more than ${MAX_DEPTH} levels deep; a policy needs at most four`));
    return null;
  }
  if (isAlias(node)) {
    const target = node.resolve(doc);
    source.remember(path, { node });
    if (!target) {
      problems.push(source.problem(path, `alias *${node.source} has no anchor &${node.source} before it; define the anchor first`));
      return null;
    }
    const value = convert(doc, target, path, source, problems, depth + 1);
    source.remember(path, { node });
    return value;
  }
  if (isScalar(node)) {
    source.remember(path, { node });
    const v = node.value;
    if (v === null || typeof v === 'string' || typeof v === 'bigint' || typeof v === 'number' || typeof v === 'boolean') return v;
    problems.push(source.problem(path, `value of type ${node.tag ?? typeof v} is not supported; write plain text or a number`));
    return null;
  }
  if (isMap(node)) {
    source.remember(path, { node });
    const out: Record<string, unknown> = Object.create(null);
    for (const pair of node.items) {
      const keyNode = pair.key as Node | null;
      const keyValue = keyNode && isScalar(keyNode) ? keyNode.value : undefined;
      if (typeof keyValue !== 'string') {
        const shown = keyNode && isScalar(keyNode) ? String(keyNode.source ?? keyValue) : 'a list or mapping';
        const message = `field name ${shown} is not a word; field names are words such as key or action`;
        problems.push(keyNode ? source.nodeProblem(keyNode, message) : source.problem(path, message));
        continue;
      }
      const childPath = [...path, keyValue];
      if (keyNode) source.remember(childPath, { key: keyNode });
      out[keyValue] = convert(doc, pair.value, childPath, source, problems, depth + 1);
    }
    return out;
  }
  if (isSeq(node)) {
    source.remember(path, { node });
    return node.items.map((item, i) => convert(doc, item, [...path, i], source, problems, depth + 1));
  }
  problems.push(source.problem(path, 'unsupported YAML node; write plain text, numbers, lists and mappings'));
  return null;
}
