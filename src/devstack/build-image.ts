/**
 * Builds the operator image on this machine, without a Docker engine
 * (docs/image.md): `npx tsc -p . && node dist/src/devstack/build-image.js`.
 * Prints the tag and the podman command line that sees the image.
 */
import { fileURLToPath } from "node:url";
import { defaultCacheDir } from "./binaries.js";
import { ensureOperatorImage } from "./image.js";
import { Podman } from "./podman.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const cacheDir = defaultCacheDir();
const image = await ensureOperatorImage({ root, cacheDir, log: (message) => process.stderr.write(`[image] ${message}\n`) });
const podman = await Podman.open(cacheDir);
const { Size: size } = await podman.imageInspect(image.id);
process.stdout.write(
  [
    `image:   ${image.ref}`,
    `also:    ${image.cacheRef}`,
    `id:      ${image.id}`,
    `size:    ${(size / 1e6).toFixed(1)} MB`,
    `built:   ${image.built ? `yes, in ${image.buildSeconds.toFixed(1)} s` : "no, cached"}`,
    `podman:  podman ${podman.globalArgs.join(" ")}`,
    "",
  ].join("\n"),
);
