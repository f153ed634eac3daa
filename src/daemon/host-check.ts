// Which Host headers the daemon's HTTP endpoints answer: a defence against DNS rebinding. A page on
// attacker.example can make its name resolve to 127.0.0.1 and then read the daemon's events and
// status from the browser of a person on the host (the endpoints have no authentication); its
// requests still carry `Host: attacker.example`. So the daemon answers only names it knows are its
// own: an IP address (a page whose origin is an address is the daemon's own origin), localhost and
// *.localhost (browsers resolve them to loopback themselves), the host's name, the name it listens
// on, and names the operator adds (`--allow-host NAME`; `*` turns the check off).
import { isIP } from 'node:net';
import { hostname } from 'node:os';

export class HostCheck {
  readonly #names: Set<string>;
  readonly #any: boolean;

  /** `listenHost`: the address or name the daemon listens on; `extra`: names the operator allows. */
  constructor(listenHost: string, extra: readonly string[] = []) {
    this.#any = extra.includes('*');
    this.#names = new Set([listenHost, hostname(), ...extra].map((n) => n.toLowerCase().replace(/\.$/, '')));
  }

  /** The name a Host header gives (no port, no brackets, lower case), or undefined when malformed. */
  static nameOf(header: string): string | undefined {
    const m = /^(?:\[([0-9a-fA-F:.]+(?:%[\w.-]+)?)\]|([^:[\]]*))(?::\d{1,5})?$/.exec(header.trim());
    if (!m) return undefined;
    return (m[1] ?? m[2]!).toLowerCase().replace(/\.$/, '');
  }

  /** True when a request with this Host header may be answered. No header (HTTP/1.0, scripts): answered. */
  allows(header: string | undefined): boolean {
    if (this.#any || header === undefined) return true;
    const name = HostCheck.nameOf(header);
    if (name === undefined || name === '') return false;
    return isIP(name) !== 0 || name === 'localhost' || name.endsWith('.localhost') || this.#names.has(name);
  }
}
