/** Every benchmark scenario by name; later issues add theirs here. */
import type { Scenario } from '../harness.ts';
import { runtimeInfo } from './runtime-info.ts';
import { pull, pullSmallFiles } from './pull.ts';
import { pods } from './pods.ts';
import { streaming } from './streaming.ts';
import { containers } from './containers.ts';
import { stats } from './stats.ts';
import { memory } from './memory.ts';
import { idleCpu } from './idle-cpu.ts';
import { scale } from './scale.ts';

export const SCENARIOS: Record<string, Scenario> = {
  [runtimeInfo.name]: runtimeInfo,
  [pull.name]: pull,
  [pullSmallFiles.name]: pullSmallFiles,
  [pods.name]: pods,
  [streaming.name]: streaming,
  [containers.name]: containers,
  [stats.name]: stats,
  [memory.name]: memory,
  [idleCpu.name]: idleCpu,
  [scale.name]: scale,
};
