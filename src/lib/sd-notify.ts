/**
 * systemd's readiness protocol (sd_notify(3)) for the unit's Type=notify: one datagram
 * ("READY=1", "STOPPING=1") to the AF_UNIX socket systemd names in $NOTIFY_SOCKET, a path
 * or an abstract name ("@…"). Node has no unix datagram sockets, so the three libc calls go
 * through koffi, as src/storage/libc.ts does. Without $NOTIFY_SOCKET (not under systemd,
 * or Type=simple) nothing is sent.
 */
import koffi from 'koffi';
import { errnoName } from './errno.ts';

const libc = koffi.load('libc.so.6');
const socketC = libc.func('int socket(int domain, int type, int protocol)');
const sendtoC = libc.func('intptr_t sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t addrlen)');
const closeC = libc.func('int close(int fd)');

const AF_UNIX = 1;
const SOCK_DGRAM_CLOEXEC = 2 | 0o2000000;
const MSG_NOSIGNAL = 0x4000;
/** sizeof(sun_path) */
const SUN_PATH_MAX = 108;

/**
 * Reads $NOTIFY_SOCKET and removes it from this process's environment, so that no child
 * inherits it (runc, given one, would relay the container's own notifications to systemd).
 */
export function takeNotifySocket(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const socket = env['NOTIFY_SOCKET'];
  delete env['NOTIFY_SOCKET'];
  return socket !== undefined && socket !== '' ? socket : undefined;
}

/** struct sockaddr_un for a path, or for an abstract name when it starts with "@". */
export function unixAddress(socket: string): Buffer {
  const name = Buffer.from(socket.startsWith('@') ? `\0${socket.slice(1)}` : socket, 'utf8');
  const abstract = socket.startsWith('@');
  if (name.length === 0 || name.length + (abstract ? 0 : 1) > SUN_PATH_MAX || (!abstract && !socket.startsWith('/'))) {
    throw new Error(`NOTIFY_SOCKET ${JSON.stringify(socket.slice(0, 120))} is not an absolute path or an @abstract name of at most ${SUN_PATH_MAX - 1} bytes`);
  }
  const addr = Buffer.alloc(2 + name.length + (abstract ? 0 : 1));
  addr.writeUInt16LE(AF_UNIX, 0);
  name.copy(addr, 2);
  return addr;
}

/** Sends one state string ("READY=1") to `socket`; throws naming the call that failed. */
export function sdNotify(socket: string, state: string): void {
  const addr = unixAddress(socket);
  const fd = socketC(AF_UNIX, SOCK_DGRAM_CLOEXEC, 0) as number;
  if (fd < 0) throw new Error(`sd_notify: socket: ${errnoName(koffi.errno())}`);
  try {
    const msg = Buffer.from(state, 'utf8');
    const sent = Number(sendtoC(fd, msg, msg.length, MSG_NOSIGNAL, addr, addr.length));
    if (sent !== msg.length) throw new Error(`sd_notify: sendto ${JSON.stringify(socket)}: ${sent < 0 ? errnoName(koffi.errno()) : `short write (${sent} of ${msg.length} bytes)`}`);
  } finally {
    closeC(fd);
  }
}
