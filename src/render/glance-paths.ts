/**
 * Where glance-api finds the rendered files. oslo.config searches
 * `<project>.conf.d` and `<prog>.conf.d` in `/etc/<project>/` (among
 * others) when no `--config-dir` is given; the eventlet `glance-api` runs
 * as prog `glance-api`, but glance-api as a WSGI app (uwsgi, mod_wsgi) runs
 * as prog `uwsgi` or `httpd`, so the one directory both read is
 * `/etc/glance/glance.conf.d/`. The docs tell users to mount the ConfigMap
 * and the Secret there, and the renderer points file options (a CA bundle
 * from the credentials Secret) into it.
 */
export const GLANCE_CONF_DIR = "/etc/glance/glance.conf.d";
