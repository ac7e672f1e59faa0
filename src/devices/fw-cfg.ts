/**
 * QEMU's fw_cfg, the legacy I/O-port interface (docs/specs/fw_cfg.rst in
 * QEMU): a 16-bit selector register and a byte-wide data register that
 * reads the selected item sequentially. The bus maps offset 0 → port 0x510
 * (selector), offset 1 → 0x511 (data). Only the items a guest test suite
 * for the PC machine reads are provided; unknown items read as zeros.
 */
import { StateReader } from './state.js';

/** Item keys. */
export const FW_CFG_SIGNATURE = 0x00;
export const FW_CFG_ID = 0x01;
export const FW_CFG_RAM_SIZE = 0x03;
export const FW_CFG_NB_CPUS = 0x05;
export const FW_CFG_MAX_CPUS = 0x0f;

/** Selector bits besides the key (bits 13:0): the write channel (deprecated, ignored) and the architecture-local key space. */
export const FW_CFG_WRITE_CHANNEL = 0x4000;
export const FW_CFG_ARCH_LOCAL = 0x8000;

export const FW_CFG_SELECTOR = 0;
export const FW_CFG_DATA = 1;

export interface FwCfgConfig { ramSize: number; cpus: number; maxCpus: number }

/**
 * The guest-visible state: the selected key and the read position in its item. The items themselves
 * are not state: they follow from the machine's FwCfgConfig, which `restore` takes like the constructor.
 */
export interface FwCfgState { version: 1; selector: number; offset: number }

function le(value: bigint, bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) out[i] = Number((value >> BigInt(8 * i)) & 0xffn);
  return out;
}

export class FwCfg {
  private readonly items = new Map<number, Uint8Array>();
  private selector = 0;
  private offset = 0;
  guestErrors = 0;

  constructor(cfg: FwCfgConfig, private readonly onGuestError?: (what: string) => void) {
    this.items.set(FW_CFG_SIGNATURE, new TextEncoder().encode('QEMU'));
    // Bit 0: the traditional (port) interface; no DMA.
    this.items.set(FW_CFG_ID, le(1n, 4));
    this.items.set(FW_CFG_RAM_SIZE, le(BigInt(cfg.ramSize), 8));
    this.items.set(FW_CFG_NB_CPUS, le(BigInt(cfg.cpus), 2));
    this.items.set(FW_CFG_MAX_CPUS, le(BigInt(cfg.maxCpus), 2));
  }

  read(offset: number, size: number): number {
    if (offset === FW_CFG_DATA) {
      // Wider reads of the data port return one byte per access, like QEMU's legacy port (byte register).
      if (size !== 1) this.guestError(`${size}-byte read of the data port`);
      const item = this.items.get(this.selector);
      const v = item && this.offset < item.length ? item[this.offset]! : 0;
      if (item && this.offset < item.length) this.offset++;
      return v;
    }
    // The selector register is write-only.
    this.guestError(`read of fw_cfg offset ${offset}`);
    return 0;
  }

  write(offset: number, size: number, value: number): void {
    if (offset === FW_CFG_SELECTOR && size === 2) {
      // Bit 15 selects the architecture-local key space (x86 items 0x8000+, none provided here: they read as
      // zeros) rather than aliasing the generic key; bit 14, the write channel, is ignored, as in QEMU.
      this.selector = value & 0xffff & ~FW_CFG_WRITE_CHANNEL;
      this.offset = 0;
      return;
    }
    this.guestError(`${size}-byte write of 0x${value.toString(16)} at fw_cfg offset ${offset}`);
  }

  snapshot(): FwCfgState {
    return { version: 1, selector: this.selector, offset: this.offset };
  }

  /** Rebuilds fw_cfg from `snapshot()`'s state and the machine's config; throws InvalidArgumentError on a malformed state. */
  static restore(state: FwCfgState, cfg: FwCfgConfig, onGuestError?: (what: string) => void): FwCfg {
    const r = StateReader.open('fw_cfg', state, 1);
    const f = new FwCfg(cfg, onGuestError);
    f.selector = r.bits('selector', 0xffff & ~FW_CFG_WRITE_CHANNEL);
    f.offset = r.int('offset', 0, f.items.get(f.selector)?.length ?? 0);
    return f;
  }

  private guestError(what: string): void {
    this.guestErrors++;
    this.onGuestError?.(what);
  }
}
