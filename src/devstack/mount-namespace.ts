/**
 * Runs a server in a private mount namespace of its own, with folders of
 * this machine bind-mounted where the server will look for them: what a
 * pod's volume mounts do. Each server then sees its own files at exactly
 * the path the docs name (e.g. /etc/glance/glance.conf.d), and nothing is
 * written to, or mounted on, the machine's own /etc.
 *
 * The argv this returns starts `unshare --mount --propagation private`
 * (mounts made inside never reach the machine), then a shell that makes the
 * mounts and `exec`s the server: unshare without --fork execs too, so the
 * server ends up with the very pid the supervisor started, as the leader of
 * its process group, and stopping that group stops it and what it forked.
 * When the last process of the namespace exits, its mounts go with it.
 *
 * Mounts need CAP_SYS_ADMIN: as root it is there; otherwise the server also
 * gets a user namespace of its own in which the caller is root
 * (`--user --map-root-user`), where the kernel allows unprivileged user
 * namespaces (the development machine's does).
 */
export interface BindMount {
  /** A folder of this machine. */
  readonly source: string;
  /** Where the server sees it; must exist (after the mounts before it). */
  readonly target: string;
  readonly readOnly?: boolean;
}

const SCRIPT = [
  "set -e",
  'count="$1"; shift',
  'while [ "$count" -gt 0 ]; do',
  '  mount --bind "$1" "$2"',
  '  if [ "$3" = ro ]; then mount -o remount,bind,ro "$2"; fi',
  "  shift 3; count=$((count - 1))",
  "done",
  'exec "$@"',
].join("\n");

/** The argv that runs `command ...args` with `mounts` made first, in order. */
export function inPrivateMounts(
  mounts: readonly BindMount[],
  command: string,
  args: readonly string[],
  options: { readonly asRoot?: boolean } = {},
): { command: string; args: string[] } {
  const asRoot = options.asRoot ?? process.getuid?.() === 0;
  for (const mount of mounts) {
    if (!mount.source.startsWith("/") || !mount.target.startsWith("/")) throw new Error(`bind mounts take absolute paths: ${mount.source} -> ${mount.target}`);
  }
  return {
    command: "/usr/bin/unshare",
    args: [
      ...(asRoot ? [] : ["--user", "--map-root-user"]),
      "--mount",
      "--propagation",
      "private",
      "/bin/sh",
      "-c",
      SCRIPT,
      "private-mounts",
      String(mounts.length),
      ...mounts.flatMap((mount) => [mount.source, mount.target, mount.readOnly ? "ro" : "rw"]),
      command,
      ...args,
    ],
  };
}
