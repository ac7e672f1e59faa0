import { describe, expect, it } from 'vitest';
import {
  BackendError, BackendUnavailableError, ClosedError, ERRNO, InvalidArgumentError, LoaderError, MappingInUseError, VmmError,
} from '../../src/errors.js';

describe('error classes carry stable codes', () => {
  it.each([
    { make: () => new InvalidArgumentError('x'), name: 'InvalidArgumentError', code: 'ERR_INVALID_ARG' },
    { make: () => new LoaderError('ERR_LOADER_NOT_ELF', 'x'), name: 'LoaderError', code: 'ERR_LOADER_NOT_ELF' },
    { make: () => new BackendError('EEXIST', 'KVM_CREATE_VCPU', 'x'), name: 'BackendError', code: 'EEXIST' },
    { make: () => new ClosedError('VM'), name: 'ClosedError', code: 'ERR_VMM_CLOSED' },
    { make: () => new BackendUnavailableError('x'), name: 'BackendUnavailableError', code: 'ERR_VMM_BACKEND_UNAVAILABLE' },
    { make: () => new MappingInUseError('x'), name: 'MappingInUseError', code: 'ERR_MAPPING_IN_USE' },
  ])('$name has code $code', ({ make, name, code }) => {
    const e = make();
    expect(e).toBeInstanceOf(VmmError);
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe(name);
    expect(e.code).toBe(code);
    expect(e.message.length).toBeGreaterThan(0);
  });

  it('BackendError carries errno and the ioctl like a Node system error', () => {
    const e = new BackendError('EINVAL', 'KVM_SET_GSI_ROUTING', 'bad');
    expect(e.errno).toBe(ERRNO.EINVAL);
    expect(e.syscall).toBe('KVM_SET_GSI_ROUTING');
  });
});
