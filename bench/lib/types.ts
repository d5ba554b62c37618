import type { BenchConfig } from '../config.ts';

export interface ScenarioContext {
  cfg: BenchConfig;
  log: (msg: string) => void;
}

/** Every scenario answers with at least these keys; the rest is scenario-specific. */
export interface ScenarioResult {
  status: 'measured' | 'not measured';
  /** Why not measured, or what was reduced. */
  notes: string[];
  goals: Goal[];
  [key: string]: unknown;
}

export interface Goal {
  name: string;
  target: string;
  value: number | null;
  met: boolean | null;
}

export function goal(name: string, target: string, value: number | null, cmp: '<=' | '>=', bound: number): Goal {
  const met = value === null || !Number.isFinite(value) ? null : cmp === '<=' ? value <= bound : value >= bound;
  return { name, target, value: value === null || !Number.isFinite(value) ? null : value, met };
}

export function notMeasured(reason: string): ScenarioResult {
  return { status: 'not measured', notes: [`not measured: ${reason}`], goals: [] };
}
