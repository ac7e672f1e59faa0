/** An interrupt output line, as devices see it: they only set its level. */
export interface IrqLine { set(level: boolean): void }

/** Test double: records every set(level). */
export class RecordingIrqLine implements IrqLine {
  readonly calls: boolean[] = [];
  level = false;
  set(level: boolean): void {
    this.calls.push(level);
    this.level = level;
  }
}
