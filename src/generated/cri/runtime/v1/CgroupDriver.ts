// Original file: proto/cri/api.proto

export const CgroupDriver = {
  SYSTEMD: 0,
  CGROUPFS: 1,
} as const;

export type CgroupDriver =
  | 'SYSTEMD'
  | 0
  | 'CGROUPFS'
  | 1

export type CgroupDriver__Output = typeof CgroupDriver[keyof typeof CgroupDriver]
