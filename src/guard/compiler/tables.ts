// Policy → the contents of the guard's maps. Pure and kernel-independent, so it is tested without
// root and reused by anything that needs to know how a policy decides (explain, the interpreter).
import type { Action, Policy, Rule } from '../model.js';
import {
  ActionCode, ConstraintCode, MAX_FIELDS, NAME_BUF, NsCode, Rec, VALUE_MAX, WILD_REM_BUF, specialRuleIds,
} from './abi.js';
import { patternNamespaceOf, type SysctlNamespace } from '../../sysctl/keys.js';

/** Longest literal prefix before a `*` segment the program compares (see Scratch in abi.ts). */
export const WILDCARD_PREFIX_MAX = 96;

export class CompileError extends Error {
  override name = 'CompileError';
}

export interface WildcardGroup { id: number; prefix: string }

export interface GuardTables {
  nRules: number;
  /** Kernel name (NUL-padded to NAME_BUF) → record. */
  exact: [Buffer, Buffer][];
  /** LPM key (u32 prefixlen + name) → record. */
  subtree: [Buffer, Buffer][];
  /** LPM key (u32 prefixlen + u32 group + remainder) → record. */
  wild: [Buffer, Buffer][];
  /** u32 rule id + value (NUL-padded to VALUE_MAX + 1) → 1. */
  values: Buffer[];
  /** The record for keys no rule matches. */
  defaults: Buffer;
  groups: WildcardGroup[];
  hasReadRules: boolean;
  /** The namespace kinds `namespace: own` rules check (the program reads only these). */
  ownNamespaces: SysctlNamespace[];
}

/** The namespace a `namespace: own` rule checks, or undefined for other rules. */
export function ownNamespaceOf(rule: Rule): SysctlNamespace | undefined {
  if (rule.namespace !== 'own') return undefined;
  const ns = patternNamespaceOf(rule.key);
  if (!ns) throw new CompileError(`${rule.key.text}: namespace: own on a key that is not per namespace`);
  return ns;
}

const SUBTREE_KEY = 4 + NAME_BUF;
const WILD_KEY = 8 + WILD_REM_BUF;

/** How specific a pattern is: exact > exact with a `*` > subtree; then more literal bytes. */
export function specificity(rule: Rule): number {
  const literal = rule.key.segments.filter((s) => s !== '*').join('/').length;
  const kind = rule.key.kind === 'subtree' ? 1 : rule.key.wildcard === null ? 3 : 2;
  return (kind << 16) | Math.min(literal, 0xffff);
}

export function encodeRecord(o: { id: number; specificity: number; write: Action; read: Action; rule?: Rule }): Buffer {
  const b = Buffer.alloc(Rec.SIZE);
  b.writeUInt32LE(o.id, Rec.ID);
  b.writeUInt32LE(o.specificity, Rec.SPECIFICITY);
  b.writeUInt8(ActionCode[o.write], Rec.WRITE_ACTION);
  b.writeUInt8(ActionCode[o.read], Rec.READ_ACTION);
  const v = o.rule?.value;
  b.writeUInt8(v ? ConstraintCode[v.kind] : ConstraintCode.none, Rec.CONSTRAINT);
  const fields = v?.kind === 'range' ? [v] : v?.kind === 'fields' ? v.fields : [];
  if (fields.length > MAX_FIELDS) throw new CompileError(`rule ${o.id}: ${fields.length} fields; the guard checks at most ${MAX_FIELDS}`);
  b.writeUInt8(fields.length, Rec.NFIELDS);
  const ns = o.rule && ownNamespaceOf(o.rule);
  b.writeUInt8(ns ? NsCode[ns] : 0, Rec.OWN_NS);
  fields.forEach((f, i) => {
    b.writeBigInt64LE(f.min, Rec.FIELDS + i * 16);
    b.writeBigInt64LE(f.max, Rec.FIELDS + i * 16 + 8);
  });
  const ov = o.rule?.override;
  if (ov !== undefined) {
    const bytes = Buffer.from(ov);
    if (bytes.length === 0 || bytes.length > VALUE_MAX) throw new CompileError(`rule ${o.id}: an override must be 1 to ${VALUE_MAX} bytes`);
    b.writeUInt8(bytes.length, Rec.OVERRIDE_LEN);
    // Padded with newlines: the program passes the override at least as long as the write.
    b.fill(0x0a, Rec.OVERRIDE, Rec.OVERRIDE + 128);
    bytes.copy(b, Rec.OVERRIDE);
  }
  return b;
}

const padded = (s: string, size: number, what: string): Buffer => {
  const bytes = Buffer.from(s);
  if (bytes.length >= size) throw new CompileError(`${what} "${s}" is ${bytes.length} bytes; the guard reads at most ${size - 1}`);
  const b = Buffer.alloc(size);
  bytes.copy(b);
  return b;
};

export function buildTables(policy: Policy): GuardTables {
  const nRules = policy.rules.length;
  const t: GuardTables = {
    nRules, exact: [], subtree: [], wild: [], values: [], groups: [],
    defaults: encodeRecord({ id: specialRuleIds(nRules).DEFAULT, specificity: 0, write: policy.defaults.write, read: policy.defaults.read }),
    hasReadRules: policy.defaults.read !== 'allow' || policy.rules.some((r) => r.reads !== 'allow'),
    ownNamespaces: [...new Set(policy.rules.flatMap((r) => ownNamespaceOf(r) ?? []))].sort(),
  };
  const groupIds = new Map<string, number>();
  for (const rule of policy.rules) {
    const rec = encodeRecord({ id: rule.index, specificity: specificity(rule), write: rule.action, read: rule.reads, rule });
    const segs = rule.key.segments;
    if (rule.key.wildcard === null) {
      const name = segs.join('/');
      if (rule.key.kind === 'exact') {
        const exactRec = Buffer.from(rec);
        exactRec.writeUInt8(1, Rec.EXACT);
        t.exact.push([padded(name, NAME_BUF, 'key'), exactRec]);
      } else {
        const prefix = `${name}/`;
        const k = Buffer.alloc(SUBTREE_KEY);
        k.writeUInt32LE(Buffer.byteLength(prefix) * 8, 0);
        padded(prefix, NAME_BUF + 1, 'subtree').copy(k, 4);
        t.subtree.push([k, rec]);
      }
    } else {
      const w = rule.key.wildcard;
      if (w === 0) throw new CompileError(`${rule.key.text}: a wildcard cannot be the first segment`);
      const prefix = `${segs.slice(0, w).join('/')}/`;
      if (Buffer.byteLength(prefix) > WILDCARD_PREFIX_MAX) throw new CompileError(`${rule.key.text}: the part before "*" is longer than ${WILDCARD_PREFIX_MAX} bytes`);
      let group = groupIds.get(prefix);
      if (group === undefined) {
        group = groupIds.size;
        groupIds.set(prefix, group);
        t.groups.push({ id: group, prefix });
      }
      const rest = segs.slice(w + 1).join('/');
      // exact: the remainder and its NUL; subtree: the remainder's directories (or nothing).
      const rem = rule.key.kind === 'exact' ? `${rest}\0` : rest === '' ? '' : `${rest}/`;
      const remBytes = Buffer.from(rem);
      if (remBytes.length > WILD_REM_BUF) throw new CompileError(`${rule.key.text}: the part after "*" is longer than ${WILD_REM_BUF - 1} bytes`);
      const k = Buffer.alloc(WILD_KEY);
      k.writeUInt32LE((4 + remBytes.length) * 8, 0);
      k.writeUInt32LE(group, 4);
      remBytes.copy(k, 8);
      t.wild.push([k, rec]);
    }
    if (rule.value?.kind === 'values') {
      for (const v of rule.value.values) {
        const k = Buffer.alloc(4 + VALUE_MAX + 1);
        k.writeUInt32LE(rule.index, 0);
        padded(v.replace(/\n$/, ''), VALUE_MAX + 1, 'value').copy(k, 4);
        t.values.push(k);
      }
    }
  }
  return t;
}
