export * from './abi.js';
export * from './bpf.js';
export * from './errors.js';
export * from './fd.js';
export { Layout, bytes, cString } from './layout.js';
export { errnoName, errnoValue } from './libc.js';
export { mountNamespaceId } from './nsfs.js';
