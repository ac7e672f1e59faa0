/** A vCPU for run-loop tests: every contract member inert, the ones a test exercises given. */
import type { Vcpu } from '../../src/backend/types.js';

export function fakeVcpu(parts: Partial<Vcpu> & Pick<Vcpu, 'run' | 'runOnThread'>): Vcpu {
  return {
    id: 0,
    kick: () => {},
    getRegs: () => { throw new Error('unused'); },
    setRegs: () => {},
    getSregs: () => { throw new Error('unused'); },
    setSregs: () => {},
    setCpuid: () => {},
    interrupt: () => {},
    setRequestInterruptWindow: () => {},
    readyForInterruptInjection: false,
    getMpState: () => 'runnable',
    setMpState: () => {},
    instructionsRetired: undefined,
    armVcpuInit: () => {},
    getOneReg: () => { throw new Error('unused'); },
    setOneReg: () => {},
    getRegList: () => [],
    deviceIrqLevel: 0,
    close: () => {},
    ...parts,
  };
}
