// The setuid/setgid seccomp program, run through a small classic-BPF interpreter: the decisions it makes
// for each syscall and mode, per architecture. (The security suite proves the same against a real kernel.)
import { describe, expect, it } from 'vitest';
import { setIdBitsFilter } from '../../src/sandbox/bubblewrap/seccomp-filter.ts';

const ALLOW = 0x7fff_0000;
const EPERM = 0x0005_0001;
const ENOSYS = 0x0005_0026;
const X86_64 = 0xc000_003e;
const I386 = 0x4000_0003;
const AARCH64 = 0xc000_00b7;

/** Runs a classic BPF program over struct seccomp_data { nr, arch, ip, args[6] }. */
function run(program: Buffer, nr: number, arch: number, args: number[] = []): number {
  const data = Buffer.alloc(64);
  data.writeInt32LE(nr, 0);
  data.writeUInt32LE(arch, 4);
  args.forEach((value, index) => data.writeUInt32LE(value >>> 0, 16 + 8 * index));
  let accumulator = 0;
  for (let pc = 0; pc < program.length / 8; pc++) {
    const code = program.readUInt16LE(pc * 8);
    const jt = program.readUInt8(pc * 8 + 2);
    const jf = program.readUInt8(pc * 8 + 3);
    const k = program.readUInt32LE(pc * 8 + 4);
    switch (code) {
      case 0x20:
        accumulator = data.readUInt32LE(k);
        break;
      case 0x15:
        pc += accumulator === k ? jt : jf;
        break;
      case 0x35:
        pc += accumulator >= k ? jt : jf;
        break;
      case 0x45:
        pc += (accumulator & k) !== 0 ? jt : jf;
        break;
      case 0x06:
        return k;
      default:
        throw new Error(`unexpected opcode ${code.toString(16)}`);
    }
  }
  throw new Error('the program fell off its end');
}

describe('setIdBitsFilter', () => {
  const x64 = setIdBitsFilter('x64')!;
  const arm64 = setIdBitsFilter('arm64')!;

  it('refuses chmod, fchmod and fchmodat to a setuid or setgid mode, and allows any other mode (x86-64)', () => {
    expect(run(x64, 90, X86_64, [0, 0o4755])).toBe(EPERM); // chmod
    expect(run(x64, 90, X86_64, [0, 0o2755])).toBe(EPERM);
    expect(run(x64, 90, X86_64, [0, 0o1777])).toBe(ALLOW); // sticky is fine
    expect(run(x64, 90, X86_64, [0, 0o755])).toBe(ALLOW);
    expect(run(x64, 91, X86_64, [3, 0o6755])).toBe(EPERM); // fchmod
    expect(run(x64, 268, X86_64, [-100, 0, 0o4700])).toBe(EPERM); // fchmodat
    expect(run(x64, 452, X86_64, [-100, 0, 0o4700, 0])).toBe(EPERM); // fchmodat2
    expect(run(x64, 268, X86_64, [-100, 0o4755, 0o644])).toBe(ALLOW); // the mode is the third argument
  });

  it('refuses creating files and directories with those bits, but not opening without them', () => {
    expect(run(x64, 257, X86_64, [-100, 0, 0o101, 0o4755])).toBe(EPERM); // openat(O_CREAT, 04755)
    expect(run(x64, 257, X86_64, [-100, 0, 0o101, 0o644])).toBe(ALLOW);
    expect(run(x64, 2, X86_64, [0, 0o101, 0o2755])).toBe(EPERM); // open
    expect(run(x64, 85, X86_64, [0, 0o4755])).toBe(EPERM); // creat
    expect(run(x64, 83, X86_64, [0, 0o2775])).toBe(EPERM); // mkdir
    expect(run(x64, 258, X86_64, [-100, 0, 0o2775])).toBe(EPERM); // mkdirat
    expect(run(x64, 259, X86_64, [-100, 0, 0o104755, 0])).toBe(EPERM); // mknodat
  });

  it('leaves every other syscall alone, and refuses openat2, io_uring and foreign ABIs with ENOSYS', () => {
    for (const nr of [0, 1, 59, 60, 231]) expect(run(x64, nr, X86_64, [0o4755, 0o4755, 0o4755, 0o4755])).toBe(ALLOW);
    expect(run(x64, 437, X86_64)).toBe(ENOSYS); // openat2
    expect(run(x64, 425, X86_64)).toBe(ENOSYS); // io_uring_setup
    expect(run(x64, 0x4000_0000 + 90, X86_64, [0, 0o4755])).toBe(ENOSYS); // x32 chmod
    expect(run(x64, 15, I386, [0, 0o4755])).toBe(ENOSYS); // i386 chmod through int 0x80
  });

  it('has the generic syscall table on arm64, and no filter where it has no table', () => {
    expect(run(arm64, 53, AARCH64, [-100, 0, 0o4755])).toBe(EPERM); // fchmodat
    expect(run(arm64, 56, AARCH64, [-100, 0, 0o101, 0o6755])).toBe(EPERM); // openat
    expect(run(arm64, 90, AARCH64, [0, 0o4755])).toBe(ALLOW); // 90 is capget there
    expect(run(arm64, 90, X86_64, [0, 0o4755])).toBe(ENOSYS);
    expect(setIdBitsFilter('riscv64')).toBeUndefined();
  });
});
