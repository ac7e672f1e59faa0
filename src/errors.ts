/**
 * Errors with stable `code` strings. Tests assert on `code`, never on text.
 * Every class's doc comment is the meaning of its code.
 */
export class VmmError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A caller passed an argument the API cannot accept (wrong type, range, size). */
export class InvalidArgumentError extends VmmError {
  constructor(message: string) { super('ERR_INVALID_ARG', message); }
}

/** An image (ELF, multiboot) is malformed or does not fit guest memory. */
export class LoaderError extends VmmError {
  constructor(code: `ERR_LOADER_${string}`, message: string) { super(code, message); }
}

/** The backend refused an operation the way the kernel would (errno-like `code`). */
export class BackendError extends VmmError {
  /** The errno number, as Linux on x86-64 defines it. */
  readonly errno: number;
  /** The operation that failed, named after its ioctl (e.g. 'KVM_SET_USER_MEMORY_REGION'). */
  readonly syscall: string;
  constructor(code: ErrnoName, syscall: string, message: string) {
    super(code, `${syscall} failed: ${message}`);
    this.errno = ERRNO[code];
    this.syscall = syscall;
  }
}

/** The errno values the sim backend reports (Linux x86-64 numbering). */
export const ERRNO = {
  EPERM: 1, ENOENT: 2, EINTR: 4, EIO: 5, ENXIO: 6, E2BIG: 7, ENOEXEC: 8, EBADF: 9, EAGAIN: 11, ENOMEM: 12,
  EFAULT: 14, EBUSY: 16, EEXIST: 17, ENODEV: 19, EINVAL: 22, ENOSPC: 28, ENOSYS: 38, EOPNOTSUPP: 95,
} as const;
export type ErrnoName = keyof typeof ERRNO;

/** Guest memory a memory slot still points into cannot be unmapped (KVM would keep its address). */
export class MappingInUseError extends VmmError {
  constructor(message: string) { super('ERR_MAPPING_IN_USE', message); }
}

/** An object was used after close(). */
export class ClosedError extends VmmError {
  constructor(what: string) { super('ERR_VMM_CLOSED', `${what} is closed`); }
}

/** The requested backend cannot be used on this machine. */
export class BackendUnavailableError extends VmmError {
  constructor(message: string) { super('ERR_VMM_BACKEND_UNAVAILABLE', message); }
}
