/** Every benchmark scenario by name; later issues add theirs here. */
import type { Scenario } from '../harness.ts';
import { runtimeInfo } from './runtime-info.ts';

export const SCENARIOS: Record<string, Scenario> = {
  [runtimeInfo.name]: runtimeInfo,
};
