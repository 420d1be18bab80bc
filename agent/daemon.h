/*
 * daemon.h - `neoedge run`: the daemon's lifecycle.
 */
#ifndef NE_AGENT_DAEMON_H
#define NE_AGENT_DAEMON_H

struct ne_daemon_opts {
    const char *config_path; /* NULL: the embedded default config */
    const char *data_dir;    /* NULL: the config's data_dir */
};

/* Runs the daemon in the foreground until SIGTERM or SIGINT: loads and
 * validates the config, takes the data dir lock, starts every enabled
 * module in order, serves, reloads on SIGHUP, and stops the modules in
 * reverse order. Every failure is reported once on stderr (one line).
 * Returns the process exit code: 0 after a graceful stop, 1 when the
 * daemon could not start (nothing stays half-started). */
int ne_daemon_run(const struct ne_daemon_opts *o);

/* Loads the config for the CLI and the daemon: path (NULL: the embedded
 * default) with environment overrides. On failure prints the one-line
 * diagnostic "FILE:LINE:COL: KEY: MSG" on stderr and returns the NE_E*
 * code. On success *out is owned by the caller (ne_config_free). */
struct ne_config;
int ne_daemon_load_config(const char *path, struct ne_config **out);

#endif
