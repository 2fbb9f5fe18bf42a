// A seccomp filter (classic BPF, as bwrap's --seccomp takes it) that keeps setuid and setgid bits out of
// the workspace. With the server as root, bubblewrap's user namespace maps the sandbox's uid 1000 to host
// uid 0, so a file the agent made setuid (`chmod 4755`) would be a setuid-root file on the host, live again
// wherever a backup, copy or snapshot puts it. Running bwrap as an unprivileged host user would avoid that,
// but bwrap resolves its bind sources with the caller's permissions and data directories commonly sit under
// directories only root may enter (/root, mkdtemp's 0700): so the bits are refused where they are set.
//
// Refused with EPERM: chmod, fchmod, fchmodat(2) to a mode with S_ISUID or S_ISGID; open/openat/creat,
// mkdir/mkdirat and mknod/mknodat with such a mode. Refused with ENOSYS (callers fall back): openat2, whose
// mode sits in a struct the filter cannot read, and io_uring, whose operations (openat among them) seccomp
// never sees; and every syscall of another ABI (i386 through int 0x80, x32), whose numbers differ.
import { arch } from 'node:process';

/** The mode bits the filter refuses. */
const SET_ID_BITS = 0o6000;

const SECCOMP_RET_ALLOW = 0x7fff_0000;
const SECCOMP_RET_ERRNO = 0x0005_0000;
const EPERM = 1;
const ENOSYS = 38;

// struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6] (little-endian: low word first).
const OFFSET_NR = 0;
const OFFSET_ARCH = 4;
const argumentOffset = (index: number): number => 16 + 8 * index;

// Classic BPF opcodes.
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const JSET_K = 0x45;
const RET_K = 0x06;

interface ArchitectureTable {
  /** AUDIT_ARCH_* of the native ABI. */
  auditArch: number;
  /** Syscall numbers at or above this belong to another ABI (x32 on x86-64). */
  foreignFrom?: number;
  /** Syscall number → index of its mode argument. */
  modeArgument: Record<number, number>;
  /** Syscalls refused outright with ENOSYS. */
  unavailable: number[];
}

const TABLES: Record<string, ArchitectureTable> = {
  x64: {
    auditArch: 0xc000_003e,
    foreignFrom: 0x4000_0000,
    // open 2, creat 85, openat 257, mkdir 83, mkdirat 258, mknod 133, mknodat 259, chmod 90, fchmod 91, fchmodat 268, fchmodat2 452.
    modeArgument: { 2: 2, 85: 1, 257: 3, 83: 1, 258: 2, 133: 1, 259: 2, 90: 1, 91: 1, 268: 2, 452: 2 },
    // openat2 437, io_uring_setup 425, io_uring_enter 426, io_uring_register 427.
    unavailable: [437, 425, 426, 427],
  },
  arm64: {
    auditArch: 0xc000_00b7,
    // openat 56, mkdirat 34, mknodat 33, fchmod 52, fchmodat 53, fchmodat2 452 (the generic table has no open, creat, mkdir, chmod).
    modeArgument: { 56: 3, 34: 2, 33: 2, 52: 1, 53: 2, 452: 2 },
    unavailable: [437, 425, 426, 427],
  },
};

interface Instruction {
  code: number;
  /** Jump targets by label (resolved to relative offsets), for conditional jumps. */
  whenTrue?: string;
  whenFalse?: string;
  k: number;
}

/**
 * The filter for this machine's architecture as bytes (an array of struct sock_filter), or undefined
 * on an architecture it has no syscall table for.
 */
export function setIdBitsFilter(architecture: string = arch): Buffer | undefined {
  const table = TABLES[architecture];
  if (!table) return undefined;
  const program: Array<Instruction | { label: string }> = [];
  const emit = (instruction: Instruction): void => void program.push(instruction);
  const label = (name: string): void => void program.push({ label: name });

  emit({ code: LD_W_ABS, k: OFFSET_ARCH });
  emit({ code: JEQ_K, k: table.auditArch, whenTrue: 'native', whenFalse: 'unavailable' });
  label('native');
  emit({ code: LD_W_ABS, k: OFFSET_NR });
  if (table.foreignFrom !== undefined) emit({ code: JGE_K, k: table.foreignFrom, whenTrue: 'unavailable', whenFalse: 'known' });
  label('known');
  for (const syscall of table.unavailable) emit({ code: JEQ_K, k: syscall, whenTrue: 'unavailable', whenFalse: `after-unavailable-${syscall}` }), label(`after-unavailable-${syscall}`);
  for (const [syscall, index] of Object.entries(table.modeArgument)) {
    emit({ code: JEQ_K, k: Number(syscall), whenTrue: `mode-${index}`, whenFalse: `after-${syscall}` });
    label(`after-${syscall}`);
  }
  emit({ code: RET_K, k: SECCOMP_RET_ALLOW });
  for (const index of new Set(Object.values(table.modeArgument))) {
    label(`mode-${index}`);
    emit({ code: LD_W_ABS, k: argumentOffset(index) });
    emit({ code: JSET_K, k: SET_ID_BITS, whenTrue: 'refused', whenFalse: 'allowed' });
  }
  label('allowed');
  emit({ code: RET_K, k: SECCOMP_RET_ALLOW });
  label('refused');
  emit({ code: RET_K, k: SECCOMP_RET_ERRNO | EPERM });
  label('unavailable');
  emit({ code: RET_K, k: SECCOMP_RET_ERRNO | ENOSYS });
  return assemble(program);
}

function assemble(program: Array<Instruction | { label: string }>): Buffer {
  const positions = new Map<string, number>();
  const instructions: Instruction[] = [];
  for (const item of program) {
    if ('label' in item) positions.set(item.label, instructions.length);
    else instructions.push(item);
  }
  const buffer = Buffer.alloc(instructions.length * 8);
  instructions.forEach((instruction, index) => {
    const offset = (name: string | undefined): number => {
      if (name === undefined) return 0;
      const target = positions.get(name);
      if (target === undefined) throw new Error(`seccomp filter: unknown label ${name}`);
      const relative = target - index - 1;
      if (relative < 0 || relative > 255) throw new Error(`seccomp filter: jump to ${name} out of range`);
      return relative;
    };
    buffer.writeUInt16LE(instruction.code, index * 8);
    buffer.writeUInt8(offset(instruction.whenTrue), index * 8 + 2);
    buffer.writeUInt8(offset(instruction.whenFalse), index * 8 + 3);
    buffer.writeUInt32LE(instruction.k >>> 0, index * 8 + 4);
  });
  return buffer;
}
