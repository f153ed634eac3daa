// YAML text → plain data, remembering where every value and every mapping key came from, so
// that a problem found later (by the schema or by validate.ts) can name its line and column.
// Hostile text is refused on the way (limits.ts): tokens are counted before yaml parses them,
// and the values aliases stand for as they are expanded.

import {
  CST, isAlias, isMap, isScalar, isSeq, Lexer, LineCounter, parseDocument, visit, type Alias, type Document, type Node, type Scalar,
} from 'yaml';
import type { PolicyProblem } from './errors.js';
import { MAX_ALIAS_VALUES, MAX_NESTING_DEPTH, MAX_POLICY_TOKENS } from './limits.js';

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
  MISSING_CHAR: 'close the quote or bracket',
  BAD_INDENT: 'check the indentation and the closing bracket',
  // yaml reports a stack overflow in its composer (thousands of nested brackets) as this code.
  RESOURCE_EXHAUSTION: `nested too deep; a policy nests at most ${MAX_NESTING_DEPTH} levels and needs four`,
};

// Lexer tokens that mark what follows and stand for no source text (yaml's CST docs).
const MARKERS = new Set<string>([CST.DOCUMENT, CST.FLOW_END, CST.SCALAR]);

/**
 * Text this short cannot hold more than MAX_POLICY_TOKENS tokens, so it is not counted (counting
 * is a whole second pass of the lexer: about 1.5 ms of `sysward explain -f`'s start for a
 * ten-line policy). yaml's lexer makes at most two tokens per character plus three (a marker
 * before each scalar and each document); the bound used is three per character, and
 * test/guard/policy/limits.test.ts holds the lexer to it.
 */
export const SHORT_TEXT = Math.floor((MAX_POLICY_TOKENS - 3) / 3);

/**
 * The offset of the first token past MAX_POLICY_TOKENS, or -1. The lexer alone is cheap (a
 * tenth of the parse), and refusing here costs no memory: the parser is never run.
 */
function tokenLimitOffset(text: string): number {
  let tokens = 0;
  let offset = 0;
  for (const lexeme of new Lexer().lex(text)) {
    if (++tokens > MAX_POLICY_TOKENS) return offset;
    if (!MARKERS.has(lexeme)) offset += lexeme.length;
  }
  return -1;
}

/**
 * Parse YAML text. Syntax errors come back as problems (at most one per line: the first, since
 * the rest are usually its echoes) and `source.value` is then null.
 */
export function readYaml(text: string, file: string): { source: YamlSource; problems: PolicyProblem[] } {
  const lines = new LineCounter();
  const source = new YamlSource(file, text, lines);
  const tooMany = text.length <= SHORT_TEXT ? -1 : tokenLimitOffset(text);
  if (tooMany >= 0) {
    const before = text.slice(0, tooMany);
    const line = before.split('\n').length;
    const message = `the policy has more than ${MAX_POLICY_TOKENS} YAML tokens (values, punctuation, spaces, line breaks), too many to load safely; `
      + 'write fewer rules (one rule with keys: [...] or a pattern such as net.ipv4.conf.*.forwarding covers many keys) or split it into several policies';
    return { source, problems: [{ file, line, column: tooMany - before.lastIndexOf('\n'), message, severity: 'error' }] };
  }
  // uniqueKeys off: yaml checks each key against every earlier key of its mapping, so a mapping of
  // 100,000 keys took a minute; convert() checks with a hash instead.
  const doc = parseDocument(text, { lineCounter: lines, intAsBigInt: true, prettyErrors: false, uniqueKeys: false });
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
  source.value = new Converter(doc, source, problems).convert(doc.contents, [], 0);
  return { source, problems };
}

/**
 * Each alias's anchored node, found in one walk of the document (yaml's Alias.resolve(doc) walks
 * the whole document for every alias, quadratic in a large policy), by yaml's rule: the last node
 * with that anchor before the alias, in document order. `cycles`: aliases inside their target.
 */
function aliasTargets(doc: Document): { targets: Map<Alias, Node>; cycles: Set<Alias> } {
  const anchored = new Map<string, Node>();
  const targets = new Map<Alias, Node>();
  const cycles = new Set<Alias>();
  visit(doc, {
    Node: (_key, node, ancestors) => {
      if (isAlias(node)) {
        const target = anchored.get(node.source);
        if (target) targets.set(node, target);
        if (target && (isMap(target) || isSeq(target)) && ancestors.includes(target)) cycles.add(node);
      } else if (node.anchor) {
        anchored.set(node.anchor, node);
      }
    },
  });
  return { targets, cycles };
}

/** yaml's nodes → plain data, recording each value's place in the source. */
class Converter {
  private readonly targets: Map<Alias, Node>;
  private readonly cycles: Set<Alias>;
  private readonly cyclesReported = new Set<Alias>();
  /** Values produced by expanding aliases, against MAX_ALIAS_VALUES. */
  private aliasValues = 0;
  /** The outermost alias being expanded (where a too-large expansion is reported). */
  private expanding: Alias | undefined;
  /** Past MAX_ALIAS_VALUES: convert nothing more, one problem says why. */
  private exhausted = false;

  constructor(doc: Document, private readonly source: YamlSource, private readonly problems: PolicyProblem[]) {
    ({ targets: this.targets, cycles: this.cycles } = aliasTargets(doc));
  }

  convert(node: unknown, path: Path, depth: number): unknown {
    const { source, problems } = this;
    if (node === null || node === undefined || this.exhausted) return null;
    if (depth > MAX_NESTING_DEPTH) {
      problems.push(source.problem(path, `nested more than ${MAX_NESTING_DEPTH} levels deep; a policy needs at most four`));
      return null;
    }
    if (this.expanding && ++this.aliasValues > MAX_ALIAS_VALUES) {
      this.exhausted = true;
      problems.push(source.nodeProblem(this.expanding, `the policy expands aliases to more than ${MAX_ALIAS_VALUES} values (an alias bomb?); write the values out or use fewer aliases`));
      return null;
    }
    if (isAlias(node)) return this.alias(node, path, depth);
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
        if (keyValue in out) {
          // yaml's words for it, as when it checked (uniqueKeys), at the second key.
          problems.push(source.nodeProblem(keyNode!, 'YAML: Map keys must be unique; each field may appear once in a mapping; keep one'));
          continue;
        }
        if (keyNode) source.remember(childPath, { key: keyNode });
        out[keyValue] = this.convert(pair.value, childPath, depth + 1);
      }
      return out;
    }
    if (isSeq(node)) {
      source.remember(path, { node });
      return node.items.map((item, i) => this.convert(item, [...path, i], depth + 1));
    }
    problems.push(source.problem(path, 'unsupported YAML node; write plain text, numbers, lists and mappings'));
    return null;
  }

  private alias(node: Alias, path: Path, depth: number): unknown {
    const { source, problems } = this;
    source.remember(path, { node });
    const target = this.targets.get(node);
    if (!target) {
      problems.push(source.problem(path, `alias *${node.source} has no anchor &${node.source} before it; define the anchor first`));
      return null;
    }
    if (this.cycles.has(node)) {
      // Once, at the alias: its anchor's value may be expanded again elsewhere.
      if (!this.cyclesReported.has(node)) problems.push(source.nodeProblem(node, `alias *${node.source} is inside the value &${node.source} it names, so it never ends; write the value out`));
      this.cyclesReported.add(node);
      return null;
    }
    const outermost = this.expanding === undefined;
    if (outermost) this.expanding = node;
    const value = this.convert(target, path, depth + 1);
    if (outermost) this.expanding = undefined;
    // Problems in the value are placed where the alias is used, not at the anchor.
    source.remember(path, { node });
    return value;
  }
}
