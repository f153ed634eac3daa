// zod's issues about the shape of a policy → problems a person can act on, placed in the file.

import type * as z from 'zod/mini';
import { didYouMean } from '../../util/suggest.js';
import type { PolicyProblem } from './errors.js';
import { policySchema } from './schema.js';
import type { Path, YamlSource } from './source.js';

type Issue = z.core.$ZodIssue;

/** The value at `path` in plain data, or undefined. */
export function valueAt(root: unknown, path: Path): unknown {
  let v = root;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[p];
  }
  return v;
}

/** How a value looks to the person who wrote it. */
export function describe(v: unknown): string {
  if (v === undefined) return 'missing';
  if (v === null) return 'empty';
  if (typeof v === 'string') return `text "${v.length > 40 ? `${v.slice(0, 40)}…` : v}"`;
  if (typeof v === 'bigint') return `the integer ${v}`;
  if (typeof v === 'number') return `the number ${v}`;
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return v.length === 0 ? 'an empty list' : 'a list';
  return 'a mapping';
}

/**
 * A path as the person sees it: `default.write`, `scope.cgroups[1]`; inside a rule, relative to the
 * rule (`range[0]`, `keys[2]`), since the position already says which rule.
 */
export function label(path: Path): string {
  let p = path;
  if (p.length === 0) return 'the policy';
  if (p[0] === 'rules' && typeof p[1] === 'number') {
    if (p.length === 2) return 'the rule';
    p = p.slice(2);
  }
  let out = '';
  for (const s of p) out += typeof s === 'number' ? `[${s}]` : out === '' ? s : `.${s}`;
  return out;
}

function where(path: Path): string {
  if (path.length === 0) return ' at the top of the policy';
  if (path[0] === 'rules') return ' in a rule';
  return ` in ${label(path)}`;
}

type Def = { type: string; shape?: Record<string, { _zod: { def: Def } }>; innerType?: { _zod: { def: Def } };
  element?: { _zod: { def: Def } }; items?: { _zod: { def: Def } }[]; options?: { _zod: { def: Def } }[]; in?: { _zod: { def: Def } } };

/** The field names an object of the schema at `path` has, for "did you mean". */
function fieldsAt(def: Def, path: Path): string[] | undefined {
  switch (def.type) {
    case 'object':
      if (path.length === 0) return Object.keys(def.shape ?? {});
      return typeof path[0] === 'string' && def.shape?.[path[0]] ? fieldsAt(def.shape[path[0]]!._zod.def, path.slice(1)) : undefined;
    case 'optional': case 'nullable': case 'default': case 'readonly':
      return def.innerType ? fieldsAt(def.innerType._zod.def, path) : undefined;
    case 'pipe':
      return def.in ? fieldsAt(def.in._zod.def, path) : undefined;
    case 'array':
      return typeof path[0] === 'number' && def.element ? fieldsAt(def.element._zod.def, path.slice(1)) : undefined;
    case 'tuple': {
      const item = typeof path[0] === 'number' ? def.items?.[path[0]] : undefined;
      return item ? fieldsAt(item._zod.def, path.slice(1)) : undefined;
    }
    case 'union':
      for (const o of def.options ?? []) {
        const f = fieldsAt(o._zod.def, path);
        if (f) return f;
      }
      return undefined;
    default:
      return undefined;
  }
}

const rootDef = (policySchema as unknown as { _zod: { def: Def } })._zod.def;

/** Problems for zod's issues, each placed at the value (or, for unknown fields, the key) concerned. */
export function shapeProblems(issues: readonly Issue[], source: YamlSource, prefix: Path = []): PolicyProblem[] {
  const out: PolicyProblem[] = [];
  for (const issue of issues) {
    const path: Path = [...prefix, ...(issue.path as (string | number)[])];
    const value = valueAt(source.value, path);
    const name = label(path);
    switch (issue.code) {
      case 'invalid_type': {
        if (typeof value === 'number' && issue.expected === 'bigint') {
          const fix = Number.isSafeInteger(value) ? `write ${value}` : 'write an integer';
          out.push(source.problem(path, `${name} is ${source.asWritten(path) ?? value}, not an integer; ${fix}`));
        } else if (value === undefined) {
          out.push(source.problem(path, path.length === 1 && path[0] === 'name'
            ? `the policy has no name; add name: (${issue.message.replace(/^write /, '')})`
            : `${name} is missing; ${issue.message}`));
        } else {
          out.push(source.problem(path, `${name} is ${describe(value)}; ${issue.message}`));
        }
        break;
      }
      case 'invalid_value': {
        const allowed = issue.values.map(String);
        if (typeof value === 'string') {
          const hint = didYouMean(value, allowed);
          out.push(source.problem(path, `${name} "${value}" is not one of ${allowed.join(', ')}${hint || `; write one of them`}`));
        } else {
          out.push(source.problem(path, `${name} is ${describe(value)}; write one of ${allowed.join(', ')}`));
        }
        break;
      }
      case 'unrecognized_keys': {
        const fields = fieldsAt(rootDef, path) ?? [];
        for (const k of issue.keys) {
          const hint = didYouMean(k, fields);
          out.push(source.problem([...path, k], `unknown field "${k}"${where(path)}${hint || `; the fields are ${fields.join(', ')}`}`, 'key'));
        }
        break;
      }
      case 'too_small':
      case 'too_big': {
        if (Array.isArray(value)) {
          const n = value.length;
          out.push(source.problem(path, `${name} has ${n === 0 ? 'no items' : n === 1 ? '1 item' : `${n} items`}; ${issue.message}`));
        } else {
          out.push(source.problem(path, `${name}: ${issue.message}`));
        }
        break;
      }
      case 'invalid_format':
        out.push(source.problem(path, `${name} "${String(value)}" is not valid; ${issue.message}`));
        break;
      case 'invalid_union': {
        // Report the alternative whose type matched (a mapping for `default: {…}`, text for
        // `default: dney`); only when none did, the union's own message.
        const scalar = typeof value === 'string' || typeof value === 'bigint' || typeof value === 'number';
        const mismatch = (e: Issue): boolean =>
          e.path.length === 0 && (e.code === 'invalid_type' || (e.code === 'invalid_value' && !scalar));
        const branch = issue.errors.find((errs) => !errs.some(mismatch));
        if (branch) out.push(...shapeProblems(branch, source, path));
        else out.push(source.problem(path, `${name} is ${describe(value)}; ${issue.message}`));
        break;
      }
      default:
        out.push(source.problem(path, `${name}: ${issue.message}`));
    }
  }
  return out;
}
