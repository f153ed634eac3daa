// The eleven eBPF registers as values, so that a register and an immediate cannot be confused:
// `a.mov(R0, R1)` copies a register, `a.mov(R0, 1)` loads a constant.
//   r0      return value of helpers and of the program
//   r1..r5  helper arguments (r1 holds the context at entry); clobbered by calls
//   r6..r9  callee-saved
//   r10     read-only frame pointer; the stack is the 512 bytes below it

export class Register {
  static readonly #all: readonly Register[] = Array.from({ length: 11 }, (_, index) => new Register(index));

  private constructor(readonly index: number) {}

  /** The register numbered `index`, 0..10. */
  static at(index: number): Register {
    const register = Register.#all[index];
    if (register === undefined) throw new RangeError(`there is no register r${index}: eBPF has r0..r10`);
    return register;
  }

  toString(): string {
    return `r${this.index}`;
  }
}

export const R0 = Register.at(0);
export const R1 = Register.at(1);
export const R2 = Register.at(2);
export const R3 = Register.at(3);
export const R4 = Register.at(4);
export const R5 = Register.at(5);
export const R6 = Register.at(6);
export const R7 = Register.at(7);
export const R8 = Register.at(8);
export const R9 = Register.at(9);
export const R10 = Register.at(10);
